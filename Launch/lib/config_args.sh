# Sourced by the Launch scripts, with "$@" the arguments for `rechub train` and $repo the
# repository: sets config_args to the --config the run starts from. A fresh run takes CONFIG
# (default: the repository's Configs/default.yaml). A resume (--resume among the arguments)
# takes the run's own stored config, as `rechub train --resume` does: a --config there would
# replace it whole, output_dir included, and the run would go on in the folders of CONFIG. So
# CONFIG is left out then, with a note; give --config itself to replace the stored config.
config_args=()
_rechub_resuming=0
for _rechub_arg in "$@"; do
  case "$_rechub_arg" in --resume|--resume=*) _rechub_resuming=1 ;; esac
done
if [ "$_rechub_resuming" -eq 1 ]; then
  if [ -n "${CONFIG:-}" ]; then  # (an if: a false `&&` line would end a sourcing script under set -e)
    echo "note: CONFIG=$CONFIG is not used: --resume continues with the run's stored config" \
      "(pass --config $CONFIG to replace it whole, output_dir included)" >&2
  fi
else
  config_args=(--config "${CONFIG:-$repo/Configs/default.yaml}")
fi
