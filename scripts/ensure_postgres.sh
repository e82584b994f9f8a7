#!/usr/bin/env bash
# Print a PostgreSQL URL that tests can use, starting a server when none answers.
#   1. SPENDWATCH_TEST_PG_URL, if set, is used as is.
#   2. A server on 127.0.0.1:5432 (trust auth), started with pg_ctlcluster if it is down.
#   3. Otherwise a throwaway cluster in .pg-test/ on a free port (initdb refuses root, so it
#      runs as the postgres user).
# Installs Debian's postgresql package when no binaries are present.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if [[ -n "${SPENDWATCH_TEST_PG_URL:-}" ]]; then echo "$SPENDWATCH_TEST_PG_URL"; exit 0; fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [[ -z "$(pg_bin)" ]]; then
  echo "installing postgresql (Debian package)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
bin="$(pg_bin)"

if "$bin/pg_isready" -q -h 127.0.0.1 -p 5432; then
  echo "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"; exit 0
fi
if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]] && ls /etc/postgresql/*/main >/dev/null 2>&1; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 20); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p 5432; then
      echo "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"; exit 0
    fi
    sleep 0.5
  done
fi

# Throwaway cluster, reused across runs while its server is alive.
dir="$here/.pg-test"
port_file="$dir/port"
if [[ -f "$port_file" ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$port_file")"; then
  echo "postgresql+psycopg://postgres@127.0.0.1:$(cat "$port_file")/postgres"; exit 0
fi
id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" >&2
echo "$port" > "$port_file"
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
