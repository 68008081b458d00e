"""Reads export.fits, the FITS export TestFITSExport writes with -update,
with astropy, and writes what astropy sees to export.astropy.json: the
primary header's comments, each column's name, format, unit, UCD and
description, every row (null for NaN and TNULL values), and any warning
astropy raised (the test wants none). Run with Debian's python3-astropy:

    go test ./backend/uploads -run TestFITSExport -update
    python3 backend/uploads/testdata/read_export.py
"""
import json
import math
import os
import warnings

import numpy as np
from astropy.io import fits
from astropy.table import Table

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "export.fits")

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with fits.open(path) as hdul:
        hdul.verify("exception")
        comments = [str(c) for c in hdul[0].header["COMMENT"]]
        ext = hdul[1]
        header = ext.header
        columns = []
        for i, col in enumerate(ext.columns, start=1):
            columns.append({
                "name": col.name,
                "format": str(col.format),
                "unit": col.unit or "",
                "ucd": header.get("TUCD%d" % i, ""),
                "description": header.get("TCOMM%d" % i, ""),
            })
        extname = header["EXTNAME"]
    table = Table.read(path, hdu=1)

rows = []
for r in table:
    out = []
    for name in table.colnames:
        v = r[name]
        if np.ma.is_masked(v):
            out.append(None)
        elif isinstance(v, (np.floating, float)):
            out.append(None if math.isnan(v) else float(v))
        elif isinstance(v, (np.integer, int)):
            out.append(int(v))
        else:
            out.append(str(v))
    rows.append(out)

with open(os.path.join(here, "export.astropy.json"), "w") as f:
    json.dump({"comments": comments, "extname": extname, "columns": columns, "rows": rows,
               "warnings": [str(w.message) for w in caught]}, f, indent=1)
    f.write("\n")
