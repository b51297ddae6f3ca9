# Build entry point for PowerShell: same verbs as build.sh (./build.ps1 run | iso | test | bench | fuzz | qmp).
# Thin wrapper: all logic is in tools/Build (the same code build.sh runs on Linux).
$ErrorActionPreference = 'Stop'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
dotnet run --project (Join-Path $PSScriptRoot 'tools/Build/Build.csproj') -c Release -- @args
exit $LASTEXITCODE
