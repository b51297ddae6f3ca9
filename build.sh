#!/usr/bin/env bash
# Build entry point: ./build.sh run | iso | test | bench | fuzz | qmp | scenarios  (./build.sh help)
# The logic lives in tools/Build (C#); this script builds that tool when its sources changed and runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dll="$root/tools/Build/bin/Release/net10.0/Build.dll"

stale() {
  [ ! -f "$dll" ] && return 0
  [ -n "$(find "$root/tools/Build" "$root/Tests/Boot.Tests/Harness" \
      \( -path '*/bin' -o -path '*/obj' \) -prune -o \
      -type f \( -name '*.cs' -o -name '*.csproj' \) -newer "$dll" -print -quit)" ]
}

if stale; then
  mkdir -p "$root/out"
  build_tool() {
    # Re-check under the lock: a concurrent build.sh may have built it meanwhile.
    if stale; then
      echo "==> building tools/Build" >&2
      if ! out="$(dotnet build "$root/tools/Build/Build.csproj" -c Release -nologo -v:q -tl:off 2>&1)"; then
        echo "$out" >&2
        echo "error: building tools/Build failed (command: dotnet build tools/Build/Build.csproj -c Release)" >&2
        return 1
      fi
      touch "$dll"
    fi
  }
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$root/out/tool-build.lock"
    flock -w 300 9 || { echo "error: timed out waiting for $root/out/tool-build.lock" >&2; exit 1; }
    build_tool
    exec 9>&-
  else
    build_tool
  fi
fi
exec dotnet "$dll" "$@"
