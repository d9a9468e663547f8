namespace HaKit.Fencing;

/// <summary>Runs fence agents as fencing levels: tried in order until one succeeds, each under a timeout.</summary>
internal sealed class FenceCoordinator(IReadOnlyList<IFenceAgent> agents, TimeSpan timeout, TimeProvider timeProvider) : HaKit.Runtime.IFenceRunner
{
    public bool Configured => agents.Count > 0;

    public async Task<FenceResult> FenceAsync(string node, CancellationToken cancellationToken)
    {
        if (agents.Count == 0)
        {
            return new FenceResult(false, "no fence agent is configured");
        }

        var failures = new List<string>();
        foreach (var agent in agents)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                var result = await agent.FenceAsync(node, cts.Token).AsTask().WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
                if (result.Succeeded)
                {
                    return new FenceResult(true, $"{agent.Name}: {result.Explanation}");
                }

                failures.Add($"{agent.Name}: {result.Explanation}");
            }
            catch (TimeoutException)
            {
                failures.Add($"{agent.Name}: timed out after {timeout.TotalSeconds:0.#} s");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{agent.Name}: timed out after {timeout.TotalSeconds:0.#} s");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failures.Add($"{agent.Name}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        return new FenceResult(false, string.Join("; ", failures));
    }
}
