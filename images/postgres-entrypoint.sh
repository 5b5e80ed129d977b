#!/bin/sh
# Entrypoint of the e2e PostgreSQL image. Like a real database still
# initialising, the port opens before the server accepts sessions: for
# INIT_SECONDS it answers every connection with SQLSTATE 57P03 ("the database
# system is not accepting connections"), then it is promoted and ready. A
# tcp:// wait passes too early here; a postgres:// wait does not.
set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
PGDATA=/tmp/pgdata
echo "db: initdb"
"$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --no-locale -E UTF8 --no-sync >/dev/null
echo "CREATE ROLE app LOGIN PASSWORD '${APP_PASSWORD}'" | "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
echo "CREATE DATABASE app OWNER app" | "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
# A password for the superuser, for what creates roles (Vault's database engine).
if [ -n "${SUPER_PASSWORD:-}" ]; then
  echo "ALTER ROLE postgres PASSWORD '${SUPER_PASSWORD}'" | "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
fi
cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/tmp'
hot_standby = off
CONF
echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
touch "$PGDATA/standby.signal"
"$PGBIN/postgres" -D "$PGDATA" &
echo "db: port 5432 open, not accepting sessions for ${INIT_SECONDS:-5}s (still initialising)"
sleep "${INIT_SECONDS:-5}"
"$PGBIN/pg_ctl" -D "$PGDATA" -w promote >/dev/null
echo "db: ready"
wait
