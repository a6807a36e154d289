# One script for hotwrap (http-stream) and default-format functions: the first word
# of the request body says what to write to stdout.
#   lines      10 lines 0.5 s apart, each "<n> <time written, s since epoch>"
#   yes        "y" lines without end
#   zeros N    N zero bytes
#   cat        the rest of the body, back
#   memhog     a child allocating 1 GiB (killed by the OOM killer in a small container)
read -r mode arg
case "$mode" in
lines) i=1; while [ $i -le 10 ]; do echo "$i $(date +%s.%N)"; i=$((i + 1)); sleep 0.5; done ;;
yes) exec yes ;;
zeros) exec head -c "$arg" /dev/zero ;;
cat) exec cat ;;
memhog) exec python3 -c "s = 'x' * (1 << 30)" ;;
*) echo "unknown mode $mode" ;;
esac
