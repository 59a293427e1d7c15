#!/usr/bin/env bash
# The packages as a user meets them (.ci/run runs this after packing into artifacts/packages): outside the solution,
# with package-source mapping (nuget.config: Recoverix.* only from the folder feed), an isolated package cache from
# which every Recoverix.* is removed first, and the templates installed into a private template hive.
#   1. dotnet new install Recoverix.Templates; generate a component library with tests, a silo host and a client app
#   2. the analyzer of Recoverix.Grains is on: DateTime.Now in a component reports MW0001
#   3. the generated tests run the component on the in-process runtime (LocalRuntime) on SQLite
#   4. the generated silo host is started as a process and the generated client calls it
#   5. dotnet tool install gives middleware-silo (started with the component assembly, called by the client) and mw
# Any failure exits non-zero with the step's output. Usage: packaging/smoke/run.sh  (after dotnet pack ... -o artifacts/packages)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
feed="$root/artifacts/packages"
work="$here/work"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Third-party packages stay cached between runs; the Recoverix ones never do, so a stale package cannot pass.
export NUGET_PACKAGES="${SMOKE_NUGET_PACKAGES:-$HOME/.cache/recoverix-smoke/packages}"
mkdir -p "$NUGET_PACKAGES"
rm -rf "$NUGET_PACKAGES"/recoverix.* "$work"
mkdir -p "$work"
cp "$here/nuget.config" "$work/nuget.config"
sed -i "s#../../artifacts/packages#$feed#" "$work/nuget.config"
cd "$work"

grains=$(ls "$feed"/Recoverix.Grains.*.nupkg 2>/dev/null | head -n 1 || true)
[ -n "$grains" ] || { echo "smoke: no packages in $feed; run dotnet pack Middleware.sln -o artifacts/packages first" >&2; exit 1; }
version=$(basename "$grains" .nupkg); version=${version#Recoverix.Grains.}
step() { echo "== smoke: $*"; }
silo_pid=""
cleanup() { if [ -n "$silo_pid" ]; then kill -9 "$silo_pid" 2>/dev/null || true; wait "$silo_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

step "dotnet new install Recoverix.Templates $version (private hive)"
hive="$work/.templates"
dotnet new install "Recoverix.Templates::$version" --add-source "$feed" --debug:custom-hive "$hive" >/dev/null
dotnet new recoverix-components -n Shop --debug:custom-hive "$hive" >/dev/null
dotnet new recoverix-silo -n Shop.Silo --components Shop --debug:custom-hive "$hive" >/dev/null
dotnet new recoverix-client -n Shop.Client --components Shop --debug:custom-hive "$hive" >/dev/null
grep -q "Recoverix.Grains\" Version=\"$version\"" Shop/Shop.csproj || { echo "smoke: the template does not reference $version" >&2; exit 1; }

step "analyzers on by default: DateTime.Now in a component reports MW0001"
cat > Shop/Clock.cs <<'CS'
using Middleware.Grains;
namespace Shop;
public interface IClock : IRecoverableComponent { Task<DateTime> Now(); }
public sealed class ClockState { public int Reads { get; set; } }
public sealed class Clock : RecoverableGrain<ClockState>, IClock
{
    public Task<DateTime> Now() => Task.FromResult(DateTime.Now);
}
CS
out=$(dotnet build Shop -nologo -v q 2>&1 || true)
grep -q "MW0001" <<<"$out" || { echo "$out"; echo "smoke: no MW0001 for DateTime.Now in a component: the analyzer is not on" >&2; exit 1; }
rm Shop/Clock.cs

step "the generated tests: the component on LocalRuntime on SQLite"
dotnet test Shop.Tests -nologo -v q 2>&1 | tail -n 3
dotnet build Shop.Silo -nologo -v q 2>&1 | grep -E "error|Warn|warn" || true
dotnet build Shop.Client -nologo -v q 2>&1 | grep -E "error|Warn|warn" || true

# Starts a silo command in the background and sets $protocol to its protocol address from the listening line.
start_silo() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  silo_pid=$!
  for _ in $(seq 1 300); do
    if grep -q " listening: protocol " "$log"; then
      protocol=$(sed -nE 's/.* listening: protocol ([^,]+),.*/\1/p' "$log" | head -n 1); return 0
    fi
    kill -0 "$silo_pid" 2>/dev/null || { cat "$log"; echo "smoke: the silo exited before listening" >&2; exit 1; }
    sleep 0.2
  done
  cat "$log"; echo "smoke: the silo did not print its listening line within 60 s" >&2; exit 1
}
# SIGTERM, then SIGKILL if the silo has not exited within 30 s (a stop that hangs fails this script, not the CI's clock).
stop_silo() {
  kill "$silo_pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$silo_pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$silo_pid" 2>/dev/null; then
    kill -9 "$silo_pid" 2>/dev/null || true; wait "$silo_pid" 2>/dev/null || true; silo_pid=""
    echo "smoke: the silo did not stop within 30 s of SIGTERM (killed)" >&2; exit 1
  fi
  wait "$silo_pid" 2>/dev/null || true; silo_pid=""
}
# The generated client against $protocol, bounded.
client() { timeout -k 10 120 dotnet Shop.Client/bin/Debug/net10.0/Shop.Client.dll "$protocol"; }
expect() { grep -qF "$1" <<<"$2" || { echo "$2"; echo "smoke: expected '$1'" >&2; exit 1; }; }

step "the generated silo host (a process) and the generated client"
start_silo silo.log dotnet Shop.Silo/bin/Debug/net10.0/Shop.Silo.dll --store sqlite:./data/shop.db --port 0 --http-port 0
expect "alice's cart holds 1 item(s): apple" "$(client)"
stop_silo

step "dotnet tool install Recoverix.Silo.Tool and Recoverix.Admin (middleware-silo, mw)"
dotnet tool install Recoverix.Silo.Tool --version "$version" --tool-path tools >/dev/null   # the feed comes from nuget.config's mapping
dotnet tool install Recoverix.Admin --version "$version" --tool-path tools >/dev/null   # the feed comes from nuget.config's mapping
start_silo tool-silo.log tools/middleware-silo --store sqlite:./data/tool.db --port 0 --http-port 0 \
  --components Shop/bin/Debug/net10.0/Shop.dll
expect "alice's cart holds 1 item(s): apple" "$(client)"
expect "alice's cart holds 2 item(s): apple, apple" "$(client)"
stop_silo
expect "mw [command] [options]" "$(tools/mw --help)"
expect "alice" "$(tools/mw components list --store sqlite:./data/tool.db)"

echo "smoke: ok (Recoverix $version from $feed: templates, MW0001, LocalRuntime on SQLite, silo host + client, middleware-silo + mw tools)"
