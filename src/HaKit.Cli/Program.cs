using HaKit.Cli;

return await CliApp.RunAsync(args, CliConsole.FromProcess(), CancellationToken.None).ConfigureAwait(false);
