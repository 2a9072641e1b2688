#!/bin/sh
# Dry-run in the foreground, for a container: `freqai-seq dryrun start` runs the replay market
# and `freqtrade trade --dry-run` in the background and returns, so this script then follows the
# bot's log while the bot lives, and stops bot and market on SIGTERM (docker compose stop/down).
# Arguments go to `freqai-seq dryrun start`.
set -e
freqai-seq data
# A new container runs no bot or market of an earlier one: their pid files would name unrelated
# processes of this container.
rm -f user_data/dryrun/bot.json user_data/dryrun/market.json
freqai-seq dryrun start "$@"
trap 'freqai-seq dryrun stop; exit 0' TERM INT
pid=$(python -c 'import json; print(json.load(open("user_data/dryrun/bot.json"))["pid"])')
tail -n +1 -F user_data/dryrun/bot.log &
while kill -0 "$pid" 2>/dev/null; do
    sleep 5 &
    wait $!
done
echo "The dry-run bot (pid $pid) exited; see user_data/dryrun/bot.log" >&2
freqai-seq dryrun stop
exit 1
