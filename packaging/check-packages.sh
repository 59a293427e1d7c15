#!/usr/bin/env bash
# Checks the packed Recoverix.* packages in a folder (default artifacts/packages) for what a user of the package needs:
# every expected package present at one version, real metadata (description, MIT license expression, repository URL,
# readme), XML docs and a symbol package beside every library, the analyzers inside Recoverix.Grains under
# analyzers/dotnet/cs (not lib/), the SQL scripts as contentFiles, the two dotnet tools and the template package.
# One line per problem, exit 1 if any. Usage: packaging/check-packages.sh [FOLDER]
set -euo pipefail
feed=${1:-artifacts/packages}
fail=0
problem() { echo "check-packages: $1" >&2; fail=1; }

expected=(Grains Core Protocol Recovery Recovery.Sqlite Recovery.Postgres Recovery.SqlServer Recovery.Stores Recovery.TestKit Testing Inspection Dashboard
  Client Transport Silo Silo.Tool Admin Server Client.All Templates)
grains=$(ls "$feed"/Recoverix.Grains.*.nupkg 2>/dev/null | head -n 1 || true)
[ -n "$grains" ] || { echo "check-packages: no Recoverix.Grains package in $feed (run: dotnet pack Middleware.sln -o $feed)" >&2; exit 1; }
version=$(basename "$grains" .nupkg); version=${version#Recoverix.Grains.}

for id in "${expected[@]}"; do
  [ -f "$feed/Recoverix.$id.$version.nupkg" ] || problem "Recoverix.$id.$version.nupkg is missing from $feed"
done

for pkg in "$feed"/Recoverix.*.nupkg; do
  name=$(basename "$pkg" .nupkg); id=${name%.$version}
  [ "$id" != "$name" ] || { problem "$name: not at the version of the set ($version)"; continue; }
  files=$(unzip -Z1 "$pkg")
  nuspec=$(unzip -p "$pkg" "$id.nuspec")
  grep -q "<description>" <<<"$nuspec" && ! grep -q "<description>Package Description</description>" <<<"$nuspec" \
    || problem "$id: no description"
  grep -q '<license type="expression">MIT</license>' <<<"$nuspec" || problem "$id: no MIT license expression"
  grep -q '<repository type="git" url="https://' <<<"$nuspec" || problem "$id: no repository URL"
  grep -q '<projectUrl>https://' <<<"$nuspec" || problem "$id: no project URL"
  grep -q '<tags>.*recoverix' <<<"$nuspec" || problem "$id: no tags"
  grep -q '<readme>README.md</readme>' <<<"$nuspec" && grep -qx 'README.md' <<<"$files" || problem "$id: no README.md"
  grep -q '<authors>' <<<"$nuspec" || problem "$id: no authors"
  # A dependency on another package of the set must be at the same version, and that package must be in the feed.
  while read -r dep; do
    [ -f "$feed/$dep.$version.nupkg" ] || problem "$id depends on $dep $version, which is not in $feed"
  done < <(grep -o '<dependency id="Recoverix\.[^"]*" version="[^"]*"' <<<"$nuspec" | sed -E 's/.*id="([^"]*)" version="([^"]*)"/\1 \2/' \
    | while read -r d v; do [ "$v" = "$version" ] || echo "BADVERSION:$d@$v"; echo "$d"; done)
  for dll in $(grep -E '^lib/[^/]+/[^/]+\.dll$' <<<"$files" || true); do
    grep -qx "${dll%.dll}.xml" <<<"$files" || problem "$id: $dll has no XML docs"
    [ -f "$feed/$id.$version.snupkg" ] || problem "$id: no symbol package $id.$version.snupkg"
  done
done

# What particular packages must carry.
# (listings are read whole first: grep -q closing a pipe early would fail it under pipefail)
has() { local list; list=$(unzip -Z1 "$feed/Recoverix.$1.$version.nupkg" 2>/dev/null || true)
  grep -qE "$2" <<<"$list" || problem "Recoverix.$1: no $3 ($2)"; }
entry() { unzip -p "$feed/Recoverix.$1.$version.nupkg" "$2" 2>/dev/null || true; }
has Grains '^analyzers/dotnet/cs/Middleware\.Analyzers\.dll$' "analyzer under analyzers/dotnet/cs"
if grep -qE '^lib/.*Analyzers' <<<"$(unzip -Z1 "$grains")"; then problem "Recoverix.Grains: an analyzer assembly under lib/ (it would do nothing there)"; fi
has Recovery.Sqlite '^contentFiles/any/any/sql/sqlite/001_initial\.sql$' "SQL schema as content"
has Recovery.Postgres '^contentFiles/any/any/sql/postgres/001_initial\.sql$' "SQL schema as content"
has Recovery.SqlServer '^contentFiles/any/any/sql/sqlserver/001_initial\.sql$' "SQL schema as content"
has Recovery '^contentFiles/any/any/sql/postgres/idempotent/002_procedures\.sql$' "stored-procedure contract as content"
has Recovery '^contentFiles/any/any/sql/sqlserver/idempotent/002_procedures\.sql$' "stored-procedure contract as content"
has Silo.Tool '^tools/net10\.0/any/DotnetToolSettings\.xml$' "dotnet tool settings"
has Admin '^tools/net10\.0/any/DotnetToolSettings\.xml$' "dotnet tool settings"
grep -q <<<"$(entry Silo.Tool tools/net10.0/any/DotnetToolSettings.xml)" 'Command Name="middleware-silo"' \
  || problem "Recoverix.Silo.Tool: the tool command is not middleware-silo"
grep -q <<<"$(entry Admin tools/net10.0/any/DotnetToolSettings.xml)" 'Command Name="mw"' \
  || problem "Recoverix.Admin: the tool command is not mw"
grep -q <<<"$(entry Templates Recoverix.Templates.nuspec)" '<packageType name="Template"' \
  || problem "Recoverix.Templates: not of package type Template"
if grep -q 'RECOVERIX_VERSION' <<<"$(entry Templates 'content/*')"; then
  problem "Recoverix.Templates: the package version was not stamped into the templates"
fi

[ "$fail" -eq 0 ] && echo "check-packages: $(ls "$feed"/Recoverix.*.nupkg | wc -l) packages at $version in $feed: metadata, docs, symbols, analyzers, SQL content, tools and templates ok"
exit "$fail"
