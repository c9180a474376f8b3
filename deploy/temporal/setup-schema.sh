#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the
# version shipped in this admin-tools image. Run by the temporal-schema service
# of docker-compose.yml before the server starts.
#
# Idempotent: `create` keeps an existing database, setup-schema skips a schema
# that is already past 0.0, and update-schema applies only newer versions — so
# re-running is harmless and upgrading the image tags upgrades the schema in place.
set -eu

: "${SQL_HOST:?SQL_HOST must name the PostgreSQL host}"
: "${SQL_PORT:=5432}"
: "${SQL_USER:?SQL_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
: "${SQL_DATABASE:=temporal}"
: "${SQL_VISIBILITY_DATABASE:=temporal_visibility}"
export SQL_PASSWORD

schema_dir=/etc/temporal/schema/postgresql/v12

sql_tool() {
	temporal-sql-tool --plugin postgres12 --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" "$@"
}

echo "waiting for PostgreSQL at $SQL_HOST:$SQL_PORT"
attempt=0
until nc -z -w 2 "$SQL_HOST" "$SQL_PORT"; do
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 60 ]; then
		echo "PostgreSQL did not accept connections after $attempt attempts" >&2
		exit 1
	fi
	sleep 2
done

# create_db creates database $1; for PostgreSQL, temporal-sql-tool treats an
# existing database as success.
create_db() {
	sql_tool --db "$1" create
	echo "database $1 exists"
}

# migrate sets up (first run) and updates (every run) the schema of database $1
# from the versioned directory $2.
migrate() {
	sql_tool --db "$1" setup-schema -v 0.0
	sql_tool --db "$1" update-schema -d "$schema_dir/$2/versioned"
}

create_db "$SQL_DATABASE"
migrate "$SQL_DATABASE" temporal

create_db "$SQL_VISIBILITY_DATABASE"
migrate "$SQL_VISIBILITY_DATABASE" visibility

echo "Temporal schemas are up to date"
