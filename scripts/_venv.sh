# Sourced by the scripts: make sure .venv exists and runs Python 3.11 or newer.
find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "cognito-asgi needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}
if [ ! -x .venv/bin/python ]; then
  python=$(find_python)
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
