"""Writes the import fixtures with numpy and astropy, as astronomers' tools
write them. Run with python3 from this folder; it replaces reference/,
fits-tree/, archive.zip and archive.tar.gz.

reference/  the reference layout: lenses/ and nonlenses/ of .npy (one
            float64 Fortran-ordered), indices.pkl of numpy str arrays that
            also lists a file that is not there, and a truncated .npy.
fits-tree/  an unlabelled tree of FITS cubes with a TAN WCS: obj1 and obj2
            0.5" apart (the same object), obj3 5" from obj1 (a group),
            obj4 far away, obj5 gzipped, obj6.npy the pixels of obj4 (a
            duplicate by content), and broken files: truncated, two bands,
            NaN pixels, 16 px, plus a text file and a hidden file.
archive.*   nested folders: survey-x/lenses/tile1/a.npy,
            survey-x/nonlenses/tile1/b.fits, survey-x/lenses/c.npy and
            survey-x/README.txt, as a zip and as a gzipped tar.
"""
import gzip
import io
import os
import pickle
import shutil
import tarfile
import zipfile

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

rng = np.random.default_rng(7)
SIDE = 32
SCALE = 0.168 / 3600  # deg per px, HSC


def cutout(side=SIDE):
    return (rng.normal(0, 1, (3, side, side)) * 0.1).astype(np.float32)


def fresh(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def fits_bytes(cube, ra, dec):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(cube.shape[2] + 1) / 2, (cube.shape[1] + 1) / 2]
    w.wcs.cdelt = [-SCALE, SCALE]
    hdr = w.to_header()
    hdr["OBJECT"] = "J%.4f%+.4f" % (ra, dec)
    buf = io.BytesIO()
    fits.PrimaryHDU(cube, header=hdr).writeto(buf)
    return buf.getvalue()


def write(path, b):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b)


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# reference/
fresh("reference")
for i in range(6):
    a = cutout()
    if i == 0:
        a = np.asfortranarray(a.astype(np.float64))
    write("reference/lenses/%d.npy" % i, npy_bytes(a))
for i in range(10, 16):
    write("reference/nonlenses/%d.npy" % i, npy_bytes(cutout()))
write("reference/lenses/bad.npy", npy_bytes(cutout())[:100])
splits = {
    "train": {"lenses": np.array(["0.npy", "1.npy", "2.npy", "3.npy", "99.npy"]),
              "nonlenses": np.array(["10.npy", "11.npy", "12.npy", "13.npy"])},
    "val": {"lenses": np.array(["4.npy"]), "nonlenses": np.array(["14.npy"])},
    "test": {"lenses": np.array(["5.npy"]), "nonlenses": np.array(["15.npy"])},
}
with open("reference/indices.pkl", "wb") as f:
    pickle.dump(splits, f, protocol=2)

# fits-tree/
fresh("fits-tree")
ra0, dec0 = 150.0, 2.0
cos = np.cos(np.radians(dec0))
objs = {
    "tract1/patchA/obj1.fits": (ra0, dec0),
    "tract1/patchA/obj2.fits": (ra0 + 0.5 / 3600 / cos, dec0),
    "tract1/patchB/obj3.fits": (ra0, dec0 + 5.0 / 3600),
    "tract1/patchB/obj4.fits": (ra0 + 0.1, dec0 - 0.1),
}
cubes = {}
for name, (ra, dec) in objs.items():
    cubes[name] = cutout()
    write("fits-tree/" + name, fits_bytes(cubes[name], ra, dec))
write("fits-tree/tract2/obj5.fits.gz", gzip.compress(fits_bytes(cutout(), ra0 + 0.2, dec0), mtime=0))
write("fits-tree/tract2/obj6.npy", npy_bytes(cubes["tract1/patchB/obj4.fits"]))
write("fits-tree/tract2/broken.fits", fits_bytes(cutout(), ra0, dec0)[:4000])
write("fits-tree/tract2/twoband.fits", fits_bytes(cutout()[:2], ra0 + 0.3, dec0))
nan = cutout()
nan[1, 3, 4] = np.nan
write("fits-tree/tract2/nan.fits", fits_bytes(nan, ra0 + 0.4, dec0))
write("fits-tree/tract2/small.fits", fits_bytes(cutout(16), ra0 + 0.5, dec0))
write("fits-tree/tract2/notes.txt", b"seeing was poor on tract2\n")
write("fits-tree/.hidden.fits", fits_bytes(cutout(), ra0 + 0.6, dec0))

# archive.zip, archive.tar.gz
members = {
    "survey-x/lenses/tile1/a.npy": npy_bytes(cutout()),
    "survey-x/nonlenses/tile1/b.fits": fits_bytes(cutout(), 30.0, -5.0),
    "survey-x/lenses/c.npy": npy_bytes(cutout()),
    "survey-x/README.txt": b"three cutouts\n",
}
fresh("archive.zip")
with zipfile.ZipFile("archive.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name, b in members.items():
        z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), b)
fresh("archive.tar.gz")
with open("archive.tar.gz", "wb") as raw:
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as t:
            for name, b in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(b)
                t.addfile(info, io.BytesIO(b))
