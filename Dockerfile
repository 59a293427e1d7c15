# Images for docker-compose.yml: the silo host (target "silo") and the admin tool (target "admin").
# Both are built from the packages, as a user installs them: the build stage packs the package set (dotnet pack, as CI
# does) and installs the middleware-silo and mw dotnet tools from those packages only (packaging/docker/nuget.config).
# Both carry the sample Bank component assembly under /app/components. Build context: the repository root.
# Not built on the machine this was written on (no Docker engine there); it follows the hosts' real options, and
# tests/Middleware.Tests/Deployment/DockerComposeTests.cs checks this file statically (non-root USER, /data owned by it).
# Both runtime images run as the unprivileged user 10001 (no login, no home of root's), never as root.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
# --prerelease: take the packed version whatever its suffix (-p:VersionSuffix=rc.1); the feed holds one version.
RUN dotnet pack Middleware.sln -c Release -o /packages \
 && dotnet tool install Recoverix.Silo.Tool --prerelease --tool-path /tools/silo --configfile packaging/docker/nuget.config \
 && dotnet tool install Recoverix.Admin --prerelease --tool-path /tools/admin --configfile packaging/docker/nuget.config \
 && dotnet publish samples/Bank/Bank.csproj -c Release -o /out/components

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS silo
WORKDIR /app
# The tool's launcher finds the runtime through DOTNET_ROOT.
ENV DOTNET_ROOT=/usr/share/dotnet
COPY --from=build /tools/silo /opt/recoverix/tools
COPY --from=build /out/components /app/components
# /data: where a sqlite: store or ledger may live (mount a volume there); owned by the service user, the app read-only.
RUN groupadd --system --gid 10001 middleware \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin middleware \
 && mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
# Protocol port (clients and silos) and HTTP port (/health, /metrics).
EXPOSE 7070 8080
# Everything else comes from MIDDLEWARE_* environment variables (see docker-compose.yml and README "Running a silo").
ENTRYPOINT ["/opt/recoverix/tools/middleware-silo", "--address", "0.0.0.0", "--port", "7070", "--http-port", "8080", "--components", "/app/components/Bank.dll"]

FROM mcr.microsoft.com/dotnet/runtime:10.0 AS admin
WORKDIR /app
ENV DOTNET_ROOT=/usr/share/dotnet
COPY --from=build /tools/admin /opt/recoverix/tools
COPY --from=build /out/components /app/components
RUN groupadd --system --gid 10001 middleware \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin middleware \
 && mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
ENTRYPOINT ["/opt/recoverix/tools/mw"]
CMD ["components", "list"]
