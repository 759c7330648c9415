#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 with Node 20: Jupyter (classic Notebook, nbclient,
# nbconvert) and the public-domain clip art when missing, then the npm packages from the lock file.
# Nothing else is downloaded: the default model's weights ship in this repository (models/).
# With --peers it also installs the benchmark peers (Debian's PyTorch, scikit-learn, scikit-image, FAISS), which
# `npm run bench` compares against; they are never needed at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
/usr/bin/python3 -c "import notebook, nbclient, nbconvert, ipykernel" 2>/dev/null || need+=(jupyter-notebook python3-nbconvert python3-nbclient python3-ipykernel)
[ -d /usr/share/openclipart/png ] || need+=(openclipart-png)
if [ "${1:-}" = "--peers" ]; then
  /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null || need+=(python3-torch python3-torchvision)
  /usr/bin/python3 -c "import sklearn" 2>/dev/null || need+=(python3-sklearn)
  /usr/bin/python3 -c "import skimage" 2>/dev/null || need+=(python3-skimage)
  /usr/bin/python3 -c "import faiss" 2>/dev/null || need+=(python3-faiss)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian packages: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# onnxruntime-node's install step would download CUDA providers; .npmrc skips it (the CPU runtime ships in the package)
npm ci --no-audit --no-fund
