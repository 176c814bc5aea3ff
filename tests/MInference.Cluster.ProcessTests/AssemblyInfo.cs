// Each test starts its own silo processes and redis-server: run them one at a time on a 2-core machine.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]
