"""Writes pickles shaped as numpy 2 writes them (module numpy._core), without
numpy: stand-in classes reduce exactly as numpy's str scalars, dtypes and
ndarrays do. Run with python3 from this folder."""
import pickle
import sys
import types

numpy = types.ModuleType("numpy")
core = types.ModuleType("numpy._core")
multiarray = types.ModuleType("numpy._core.multiarray")
sys.modules.update({"numpy": numpy, "numpy._core": core, "numpy._core.multiarray": multiarray})


def scalar(dtype, data):
    raise NotImplementedError


def _reconstruct(subtype, shape, dtype):
    raise NotImplementedError


for f in (scalar, _reconstruct):
    f.__module__ = "numpy._core.multiarray"
    setattr(multiarray, f.__name__, f)


class dtype:
    def __init__(self, chars):
        self.chars = chars

    def __reduce__(self):
        return (dtype, ("U%d" % self.chars, False, True),
                (3, "<", None, None, None, 4 * self.chars, 4, 8))


class ndarray:
    def __init__(self, names):
        self.names = names
        self.chars = max(len(n) for n in names)

    def __reduce__(self):
        raw = b"".join(n.ljust(self.chars, "\0").encode("utf-32-le") for n in self.names)
        return (_reconstruct, (ndarray, (0,), b"b"),
                (1, (len(self.names),), dtype(self.chars), False, raw))


class Str:
    """A numpy str_ scalar."""

    def __init__(self, name, chars):
        self.name, self.chars = name, chars

    def __reduce__(self):
        return (scalar, (dtype(self.chars), self.name.ljust(self.chars, "\0").encode("utf-32-le")))


for c in (dtype, ndarray):
    c.__module__ = "numpy"
    setattr(numpy, c.__name__, c)


def names(prefix, n):
    return ["%s%d.npy" % (prefix, i) for i in range(n)]


def scalars(ns):
    width = max(len(n) for n in ns)
    return [Str(n, width) for n in ns]


splits = {
    "train": {"lenses": scalars(names("1", 6)), "nonlenses": scalars(names("2", 4))},
    "val": {"lenses": scalars(names("3", 2)), "nonlenses": scalars(["40.npy", "4001.npy"])},
    "test": {"lenses": scalars(names("5", 2)), "nonlenses": scalars(names("6", 2))},
}
subset = {"lenses": ndarray(["10.npy", "11.npy", "1001.npy"]), "nonlenses": ndarray(["20.npy", "21.npy", "2002.npy"])}
for proto in (2, 4):
    with open("indices_p%d.pkl" % proto, "wb") as f:
        pickle.dump(splits, f, protocol=proto)
    with open("subset_p%d.pkl" % proto, "wb") as f:
        pickle.dump(subset, f, protocol=proto)
