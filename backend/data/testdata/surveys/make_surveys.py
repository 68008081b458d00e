"""Writes FITS cutouts in the layouts survey cutout services deliver, and
surveys.json with what backend/data must read from them. Run with Debian's
python3-astropy and python3-numpy:

    python3 backend/data/testdata/surveys/make_surveys.py

- hsc-{g,r,i}.fits: the HSC-SSP cutout service: one band per file, a
  header-only primary HDU with FILTER and OBJECT, then IMAGE, MASK (bit
  planes named by MP_* keywords) and VARIANCE extensions, WCS in IMAGE.
- legacy-grz.fits: a Legacy Surveys cutout: one (3, H, W) cube whose
  BANDS and BAND0..2 keywords say g, r, z.
- legacy-rig.fits: the same layout with bands r, i, g (to be reordered).
- filters.fits: three single-band image HDUs named only by FILTER, i, g, r.
"""
import json
import warnings
import os

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from astropy.io.fits.verify import VerifyWarning

# Real HSC files carry HIERARCH MP_* cards too; astropy warns as it writes them.
warnings.simplefilter("ignore", VerifyWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
N = 40
rng = np.random.default_rng(7)


def wcs_header(ra, dec, scale=0.168):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [N / 2 + 0.5, N / 2 - 1.0]
    w.wcs.cd = [[-scale / 3600, 0], [0, scale / 3600]]
    w.wcs.radesys = "ICRS"
    return w.to_header()


def centre(header):
    return [float(v) for v in WCS(header).all_pix2world([[(N + 1) / 2, (N + 1) / 2]], 1)[0]]


expected = {}

# HSC: the planes differ per band so that a mix-up shows.
ra, dec = 150.1163, 2.2058
hsc_pixels = {}
for k, (band, filt) in enumerate([("g", "HSC-G"), ("r", "HSC-R2"), ("i", "HSC-I2")]):
    image = (rng.normal(0, 0.05, (N, N)) + k + 1).astype(np.float32)
    mask = np.zeros((N, N), dtype=np.int32)
    mask[3, 4] = 1 << 8   # NO_DATA
    mask[10, 11] = 1 << 1  # SAT
    mask[20, 21] = 1 << 5  # DETECTED: not a bad pixel
    mask[30, 31] = 1 << 0  # BAD
    variance = np.full((N, N), 0.0025 * (k + 1), dtype=np.float32)  # per band, so a mix-up shows
    primary = fits.PrimaryHDU()
    primary.header["FILTER"] = filt
    primary.header["OBJECT"] = "SuGOHI-test"
    h = wcs_header(ra, dec)
    h["EXTTYPE"] = "IMAGE"
    mh = fits.Header()
    for bit, name in [(0, "BAD"), (1, "SAT"), (2, "INTRP"), (3, "CR"), (4, "EDGE"), (5, "DETECTED"), (8, "NO_DATA")]:
        mh["MP_" + name] = bit
    hdus = fits.HDUList([primary,
                         fits.ImageHDU(image, header=h, name="IMAGE"),
                         fits.ImageHDU(mask, header=mh, name="MASK"),
                         fits.ImageHDU(variance, name="VARIANCE")])
    hdus.writeto(os.path.join(HERE, f"hsc-{band}.fits"), overwrite=True)
    hsc_pixels[band] = {"pixel_5_6": float(image[5, 6]), "masked": [[3, 4], [10, 11], [30, 31]], "kept": [20, 21],
                        "kept_value": float(image[20, 21]), "variance": float(variance[0, 0])}
expected["hsc"] = {"object": "SuGOHI-test", "radec": centre(wcs_header(ra, dec)), "bands": hsc_pixels,
                   "filters": {"g": "HSC-G", "r": "HSC-R2", "i": "HSC-I2"}}

# Legacy Surveys cubes.
for name, bands, (ra, dec) in [("legacy-grz", "grz", (35.2, -4.1)), ("legacy-rig", "rig", (200.5, 40.25))]:
    cube = np.stack([np.full((N, N), 10.0 * (j + 1), dtype=np.float32) for j in range(3)])
    h = wcs_header(ra, dec, scale=0.262)
    h["BANDS"] = bands
    for j, b in enumerate(bands):
        h[f"BAND{j}"] = b
    fits.PrimaryHDU(cube, header=h).writeto(os.path.join(HERE, name + ".fits"), overwrite=True)
    expected[name] = {"radec": centre(h), "bands": list(bands),
                      "plane_value": {b: 10.0 * (j + 1) for j, b in enumerate(bands)}}

# Three single-band HDUs named by FILTER only, in the order i, g, r.
hdus = [fits.PrimaryHDU()]
for j, b in enumerate("igr"):
    h = fits.Header()
    h["FILTER"] = b
    hdus.append(fits.ImageHDU(np.full((N, N), float(j + 1), dtype=np.float32), header=h))
fits.HDUList(hdus).writeto(os.path.join(HERE, "filters.fits"), overwrite=True)
expected["filters"] = {"plane_value": {b: float(j + 1) for j, b in enumerate("igr")}}

with open(os.path.join(HERE, "surveys.json"), "w") as f:
    json.dump(expected, f, indent=1)
