"""Benchmark worker for the side-by-side references, driven by bench/ over stdin/stdout.

One JSON request per line in, one JSON reply per line out. Long-lived, like a Celery worker: the
interpreter and Pillow start once, so replies time the work and not the start-up.

  {"op": "pillow", "file", "variants": [{"width", "height", "format", "quality"}]}
      Pillow in its fastest honest mode: JPEG draft (libjpeg's DCT scaling, the shrink-on-load) to the
      largest variant's size, one resize to it (LANCZOS with reducing_gap=2.0, what Image.thumbnail
      does), every smaller variant derived from that, encoded as sharp encodes (JPEG with optimised
      Huffman tables, WebP method 4). Replies with wall and CPU ms and the encoded sizes.
  {"op": "exec", "argv": [...]}
      Runs a command (vipsthumbnail, ffmpeg, ffprobe) through launch.py and replies with its wall ms,
      its CPU ms and its peak RSS (wait4 rusage, like /usr/bin/time).
  {"op": "rusage"}
      This process's own peak RSS (start it through launch.py for that to mean anything).
"""

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from PIL import Image

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.py")
_inputs = {}


def _read(path):
    data = _inputs.get(path)
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
        _inputs[path] = data
    return data


def _fit_inside(width, height, box_width, box_height):
    scale = min(box_width / width, box_height / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _flatten(image, background=(255, 255, 255)):
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def _save(image, spec):
    out = io.BytesIO()
    if spec["format"] == "jpeg":
        _flatten(image).save(out, "JPEG", quality=spec["quality"], optimize=True)
    elif spec["format"] == "webp":
        keep = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
        keep.save(out, "WEBP", quality=spec["quality"], method=4)
    else:
        raise ValueError("unsupported format " + spec["format"])
    return len(out.getvalue())


def pillow(request):
    data = _read(request["file"])
    started_cpu = time.process_time()
    started = time.perf_counter()
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    targets = [_fit_inside(width, height, spec["width"], spec["height"]) for spec in request["variants"]]
    largest = max(targets, key=lambda size: size[0] * size[1])
    if image.format == "JPEG":
        # draft() picks the largest libjpeg scale (1/2, 1/4, 1/8) that stays at least this size.
        image.draft("RGB", largest)
    keeps_alpha = all(spec["format"] != "jpeg" for spec in request["variants"])
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    # resize() premultiplies alpha itself (RGBA -> RGBa and back).
    base = image.resize(largest, Image.LANCZOS, reducing_gap=2.0) if image.size != largest else image
    if not keeps_alpha:
        # Every output is JPEG: composite onto white once, at the largest variant's size.
        base = _flatten(base)
    sizes = []
    for spec, size in sorted(zip(request["variants"], targets), key=lambda pair: -pair[1][0] * pair[1][1]):
        variant = base if size == largest else base.resize(size, Image.LANCZOS, reducing_gap=2.0)
        sizes.append(_save(variant, spec))
    return {
        "wall_ms": (time.perf_counter() - started) * 1000,
        "cpu_ms": (time.process_time() - started_cpu) * 1000,
        "bytes": sizes,
        "decoded": list(image.size),
    }


def execute(request):
    # Through launch.py, not straight from here: a child forked from this process would start from this
    # process's resident set (see launch.py). The launcher's own start-up is outside the figures.
    fd, report = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        completed = subprocess.run([sys.executable, LAUNCHER, report, *request["argv"]], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        with open(report) as handle:
            measured = json.load(handle) if os.path.getsize(report) > 0 else {}
    finally:
        os.unlink(report)
    return {
        "wall_ms": measured.get("wall_ms", 0),
        "cpu_ms": measured.get("cpu_ms", 0),
        "max_rss_kb": measured.get("max_rss_kb", 0),
        "returncode": completed.returncode,
        "stderr": completed.stderr.decode("utf-8", "replace")[-500:],
    }


def rusage(_request):
    return {"self_max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


OPERATIONS = {"pillow": pillow, "exec": execute, "rusage": rusage}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = OPERATIONS[request["op"]](request)
            reply["ok"] = True
        except Exception as error:  # reported to the caller, which stops the benchmark
            reply = {"ok": False, "error": "%s: %s" % (type(error).__name__, error)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
