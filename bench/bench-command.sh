# Sourced by the run-*.sh scripts: sets BENCH to the command that runs the benchmark program. Builds it once (Release;
# the bench builds the silo through Bank.Cluster) and runs the built program, because `dotnet run` per run would
# rebuild-check and add noise. BENCH_DLL runs a copy instead (no build), e.g. one taken while nobody else rebuilds the
# tree; pair it with MIDDLEWARE_SILO_DLL for the silo copy. Needs ROOT (the repository root).
if [ -n "${BENCH_DLL:-}" ]; then
  BENCH=(dotnet "$BENCH_DLL")
else
  dotnet build -c Release "$ROOT/bench/Middleware.Bench/Middleware.Bench.csproj" -nologo -v q
  BENCH=(dotnet "$ROOT/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll")
fi
