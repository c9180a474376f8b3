#!/bin/sh
# Registers the Temporal namespace and the custom search attributes that PCX
# workflows are tagged with. Run by the temporal-setup service of
# docker-compose.yml once the server is healthy. The worker also registers
# the search attributes at start-up (the api does not: it starts workflows
# without PcxEventType when the namespace lacks it); doing it here means the
# Temporal UI can filter on them, and the api tags every workflow, before a
# worker has started.
#
# Idempotent: everything that already exists is left as it is.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be host:port of the frontend}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_NAMESPACE_RETENTION:=72h}"
: "${PCX_SEARCH_ATTRIBUTES:=PcxOrgId PcxEventId PcxEventType}"

addr=$TEMPORAL_ADDRESS
ns=$TEMPORAL_NAMESPACE

echo "waiting for the Temporal frontend at $addr"
attempt=0
until out=$(temporal operator cluster health --address "$addr" 2>&1) &&
	printf '%s\n' "$out" | grep -q SERVING; do
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 60 ]; then
		echo "Temporal was not SERVING after $attempt attempts: $out" >&2
		exit 1
	fi
	sleep 2
done

if temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; then
	echo "namespace $ns already exists"
else
	temporal operator namespace create --address "$addr" --namespace "$ns" \
		--retention "$TEMPORAL_NAMESPACE_RETENTION" \
		--description "PCX Public Service (docker compose)"
fi

# A new namespace reaches the frontend's cache a few seconds after it is created.
attempt=0
until attrs=$(temporal operator search-attribute list --address "$addr" --namespace "$ns" 2>&1); do
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 30 ]; then
		echo "cannot list search attributes of $ns: $attrs" >&2
		exit 1
	fi
	sleep 2
done

for name in $PCX_SEARCH_ATTRIBUTES; do
	if printf '%s\n' "$attrs" | grep -qw "$name"; then
		echo "search attribute $name already registered"
		continue
	fi
	if ! out=$(temporal operator search-attribute create --address "$addr" --namespace "$ns" \
		--name "$name" --type Keyword 2>&1); then
		# Another process (the api or a worker) may have won the race.
		if ! temporal operator search-attribute list --address "$addr" --namespace "$ns" 2>/dev/null |
			grep -qw "$name"; then
			printf '%s\n' "$out" >&2
			exit 1
		fi
	fi
	echo "search attribute $name registered"
done

echo "namespace $ns is ready"
