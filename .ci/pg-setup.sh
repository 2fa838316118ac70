#!/usr/bin/env bash
# Start the local PostgreSQL 15 cluster and provision the test role/database
# used by tests/conftest.py (CCAGENT_TEST_PG_URL default). Idempotent: safe to
# run again on a machine where the cluster is already up and provisioned.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
DB_ROLE="${CCAGENT_PG_ROLE:-ccagent}"
DB_PASS="${CCAGENT_PG_PASSWORD:-ccagent}"
DB_NAME="${CCAGENT_PG_DB:-ccagent_test}"

as_postgres() {
  if command -v runuser >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    su postgres -c "$(printf '%q ' "$@")"
  fi
}

# "already running" exits non-zero on some versions: check the status instead.
if ! pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1; then
  pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || true
fi

for _ in $(seq 1 30); do
  if as_postgres pg_isready -q -h 127.0.0.1 -p 5432; then break; fi
  sleep 0.5
done
as_postgres pg_isready -h 127.0.0.1 -p 5432

as_postgres psql -v ON_ERROR_STOP=1 -q -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_ROLE}') THEN
    CREATE ROLE ${DB_ROLE} LOGIN PASSWORD '${DB_PASS}' CREATEDB;
  ELSE
    ALTER ROLE ${DB_ROLE} LOGIN PASSWORD '${DB_PASS}' CREATEDB;
  END IF;
END
\$\$;
SQL

if ! as_postgres psql -tAq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'" | grep -q 1; then
  as_postgres createdb -O "$DB_ROLE" "$DB_NAME"
fi
echo "PostgreSQL ready: postgresql+psycopg://${DB_ROLE}:***@127.0.0.1:5432/${DB_NAME}"
