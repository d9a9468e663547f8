using HaKit.Admin.V1;

namespace HaKit.Hosting.Admin;

/// <summary>
/// Adds a package's part to the admin API's status (registered in the container by the package's builder extension: HaKit.Replication's
/// <c>UseReplication()</c> adds each replicated group's log).
/// </summary>
internal interface IAdminStatusSource
{
    /// <summary>Fills the package's fields of <paramref name="reply"/>.</summary>
    /// <param name="reply">The status being answered.</param>
    void AddTo(StatusReply reply);
}
