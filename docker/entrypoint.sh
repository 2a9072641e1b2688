#!/bin/sh
# Container entry point: builds the bundled data set into the mounted user_data/ when it is
# missing (a no-op afterwards), then runs `freqai-seq` with the container's arguments.
set -e
freqai-seq data
exec freqai-seq "$@"
