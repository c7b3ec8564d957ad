# Sourced by run.sh, test.sh and .ci/run: installs with apt the programs ferrocat runs
# when they are missing — ffmpeg/ffprobe (Debian package ffmpeg) and pdftoppm/pdfinfo
# (poppler-utils) for video and PDF task data, git for dataset repositories. ferrocat
# runs them as child processes; nothing of them is linked in.
install_media_tools() {
  local missing=()
  { command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || missing+=(ffmpeg)
  { command -v pdftoppm && command -v pdfinfo; } >/dev/null 2>&1 || missing+=(poppler-utils)
  command -v git >/dev/null 2>&1 || missing+=(git)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; }; then
    echo "installing ${missing[*]} (video and PDF task data, dataset repositories)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "notice: ${missing[*]} missing and apt-get is not usable here: video and PDF data (or dataset repositories) stay off"
    return 1
  fi
}
