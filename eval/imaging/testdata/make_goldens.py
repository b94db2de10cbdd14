"""Regenerates the PIL goldens embedded in resize_test.go and jpeg_test.go (needs Pillow and numpy).

Run: python3 make_goldens.py   (prints Go literals; the test inputs are computed from formulas)
"""
import io
import base64
import numpy as np
from PIL import Image


def pattern(w, h):
    a = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                a[y, x, c] = (x * 37 + y * 91 + c * 53 + x * y * 13) % 256
    return a


def golist(a):
    return "{" + ", ".join(str(int(v)) for v in a.reshape(-1)) + "}"


src = Image.fromarray(pattern(7, 5), "RGB")
for (w, h, f, name) in [(3, 4, Image.BILINEAR, "bilinear 3x4"), (11, 8, Image.BICUBIC, "bicubic 11x8"),
                        (4, 2, Image.BICUBIC, "bicubic 4x2"), (7, 3, Image.BILINEAR, "bilinear 7x3"),
                        (5, 5, Image.BICUBIC, "bicubic 5x5")]:
    out = np.asarray(src.resize((w, h), f))
    print(name, golist(out))

# A smooth 16x12 picture saved as JPEG with PIL's defaults (quality 75, 4:2:0).
h, w = 12, 16
a = np.zeros((h, w, 3), dtype=np.uint8)
for y in range(h):
    for x in range(w):
        a[y, x] = ((x * 255) // (w - 1), (y * 255) // (h - 1), ((x + y) * 255) // (w + h - 2))
buf = io.BytesIO()
Image.fromarray(a, "RGB").save(buf, format="JPEG")
print("jpeg", base64.b64encode(buf.getvalue()).decode())
dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
print("decoded", golist(dec))
