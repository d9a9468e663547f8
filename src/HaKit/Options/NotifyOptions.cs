namespace HaKit;

/// <summary>
/// Notifications of cluster events to the outside, as keepalived's <c>notify_master</c>/<c>notify_backup</c>/<c>notify_fault</c>
/// scripts and Pacemaker's alert agents do: on every role change, split brain, fencing and group failure, a script runs and/or the
/// event is POSTed as JSON to a webhook. Both are delivered from a bounded queue by a background task: a slow script or an
/// unreachable webhook never delays the node, and what could not be delivered is counted and logged.
/// </summary>
public sealed class NotifyOptions
{
    /// <summary>Most events the queue may hold.</summary>
    public const int QueueLimitMax = 100_000;

    /// <summary>Most webhook retries.</summary>
    public const int WebhookRetriesMax = 10;

    /// <summary>
    /// The script run for each event, without a shell: <c>Script [ScriptArguments...] &lt;event&gt; &lt;group or node&gt; &lt;state&gt;</c>
    /// (keepalived's <c>TYPE NAME STATE</c>), the event as JSON on its standard input and as <c>HAKIT_*</c> environment variables.
    /// Empty: none. <value>Default empty.</value>
    /// </summary>
    public string Script { get; set; } = "";

    /// <summary>Arguments passed before the event's own. <value>Default none.</value></summary>
    public List<string> ScriptArguments { get; set; } = [];

    /// <summary>How long the script may run before its process tree is killed. <value>Default 10 s.</value></summary>
    public TimeSpan ScriptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>An absolute <c>http://</c> or <c>https://</c> URL the event is POSTed to as JSON. Empty: none. <value>Default empty.</value></summary>
    public string Webhook { get; set; } = "";

    /// <summary>How long one webhook attempt may take. <value>Default 5 s.</value></summary>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries of a webhook POST that failed (no answer, or a status other than 2xx), with exponential back-off from 200 ms. <value>Default 3.</value></summary>
    public int WebhookRetries { get; set; } = 3;

    /// <summary>Most events waiting for delivery; when it is full the oldest is dropped (and counted). <value>Default 256.</value></summary>
    public int QueueLimit { get; set; } = 256;

    /// <summary>Whether anything is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Script) || !string.IsNullOrWhiteSpace(Webhook);

    internal void Validate(OptionsPath path)
    {
        if (!string.IsNullOrWhiteSpace(Script) && !Path.IsPathFullyQualified(Script))
        {
            path.Error(nameof(Script), Script, "must be the absolute path of an executable (it runs without a shell), e.g. /etc/hakit/notify.sh");
        }

        if (!string.IsNullOrWhiteSpace(Webhook)
            && !(Uri.TryCreate(Webhook, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
        {
            path.Error(nameof(Webhook), Webhook, "must be an absolute http:// or https:// URL, e.g. https://alerts.example.com/hakit");
        }

        path.Positive(nameof(ScriptTimeout), ScriptTimeout);
        path.Positive(nameof(WebhookTimeout), WebhookTimeout);
        if (WebhookRetries is < 0 or > WebhookRetriesMax)
        {
            path.Error(nameof(WebhookRetries), WebhookRetries, $"allowed: 0..{WebhookRetriesMax}");
        }

        if (QueueLimit is < 1 or > QueueLimitMax)
        {
            path.Error(nameof(QueueLimit), QueueLimit, $"allowed: 1..{QueueLimitMax}");
        }
    }
}
