package pretrained

import (
	"archive/zip"
	"fmt"
	"io"
	"path"
	"reflect"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// storageClasses are the storage types torch.save names, with their
// element sizes in bytes. Loading one allocates and fills a Go slice.
var storageClasses = map[string]struct {
	class pytorch.StorageClassInterface
	size  int
}{
	"FloatStorage":    {&pytorch.FloatStorageClass{}, 4},
	"HalfStorage":     {&pytorch.HalfStorageClass{}, 2},
	"BFloat16Storage": {&pytorch.BFloat16StorageClass{}, 2},
	"DoubleStorage":   {&pytorch.DoubleStorageClass{}, 8},
	"LongStorage":     {&pytorch.LongStorageClass{}, 8},
	"IntStorage":      {&pytorch.IntStorageClass{}, 4},
	"ShortStorage":    {&pytorch.ShortStorageClass{}, 2},
	"CharStorage":     {&pytorch.CharStorageClass{}, 1},
	"ByteStorage":     {&pytorch.ByteStorageClass{}, 1},
	"BoolStorage":     {&pytorch.BoolStorageClass{}, 1},
}

// findClass is the allow-list of the globals a checkpoint's pickle may
// name: tensor rebuilds, storage types, and argparse.Namespace (DINO's
// checkpoints keep their arguments in one), which becomes an inert value.
// gopickle itself maps collections.OrderedDict and builtins' list and dict
// to Go containers. Nothing is ever called that the file names: any other
// global, such as os.system, is refused.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	case "argparse.Namespace":
		return inertClass{}, nil
	}
	if s, ok := storageClasses[name]; ok && module == "torch" {
		return s.class, nil
	}
	return nil, fmt.Errorf("refusing the global %s.%s: a checkpoint may hold only tensors and plain containers, and reading it never runs code", module, name)
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks): an nn.Parameter is its tensor here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter with no arguments")
	}
	if _, ok := args[0].(*pytorch.Tensor); !ok {
		return nil, fmt.Errorf("_rebuild_parameter of a %T, not a tensor", args[0])
	}
	return args[0], nil
}

// inertClass stands for a class whose instances are kept as nothing: its
// state is read and discarded.
type inertClass struct{}

type inertObject struct{}

func (inertClass) PyNew(...any) (any, error)        { return inertObject{}, nil }
func (inertObject) PyDictSet(_, _ any) error        { return nil }
func (inertObject) PySetAttr(_ string, _ any) error { return nil }

// readTorch reads a checkpoint torch.save wrote (a zip archive holding
// <archive>/data.pkl and one record per storage under <archive>/data/)
// and returns the unpickled object: types.Dict, *types.OrderedDict,
// *types.List, *types.Tuple, *pytorch.Tensor and scalars.
func readTorch(file string) (any, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch zip checkpoint (torch.save since 1.6): %w", err)
	}
	defer zr.Close()
	var pkl *zip.File
	records := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		switch {
		case base == "data.pkl" && strings.Count(dir, "/") == 1:
			pkl = f
		case base == "constants.pkl":
			return nil, fmt.Errorf("a TorchScript archive; save the model's state_dict() instead")
		case strings.HasSuffix(dir, "/data/"):
			records[base] = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("no data.pkl in the archive")
	}
	r, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	storages := make(map[string]pytorch.StorageInterface)
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) { return loadStorage(id, records, storages) }
	u.GetExtension = func(code int) (any, error) {
		return nil, fmt.Errorf("refusing extension code %d: a checkpoint may hold only tensors and plain containers", code)
	}
	return load(&u)
}

// load runs the unpickler, turning a panic of the library on a malformed
// stream (an unhashable dict key, say) into an error.
func load(u *pickle.Unpickler) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	return u.Load()
}

// loadStorage answers a persistent id ('storage', class, key, location,
// numel) with the storage in record data/<key>, read once per key.
func loadStorage(id any, records map[string]*zip.File, loaded map[string]pytorch.StorageInterface) (any, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 || t.Get(0) != "storage" {
		return nil, fmt.Errorf("persistent id %v is not a storage", id)
	}
	class, okClass := t.Get(1).(pytorch.StorageClassInterface)
	key, okKey := t.Get(2).(string)
	location, okLoc := t.Get(3).(string)
	numel, okNumel := t.Get(4).(int)
	if !okClass || !okKey || !okLoc || !okNumel || numel < 0 {
		return nil, fmt.Errorf("storage id %v: want (storage, class, key, location, numel)", id)
	}
	if s, ok := loaded[key]; ok {
		return s, nil
	}
	rec, ok := records[key]
	if !ok {
		return nil, fmt.Errorf("storage %q: no record data/%s in the archive", key, key)
	}
	size := 0
	for _, s := range storageClasses {
		if reflect.TypeOf(s.class) == reflect.TypeOf(class) {
			size = s.size
		}
	}
	if want := uint64(numel) * uint64(size); rec.UncompressedSize64 < want {
		return nil, fmt.Errorf("storage %q: record of %d bytes, want %d (truncated?)", key, rec.UncompressedSize64, want)
	}
	r, err := rec.Open()
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", key, err)
	}
	defer r.Close()
	s := class.New(numel, location)
	if err := s.SetFromFileWithSize(io.LimitReader(r, int64(numel*size)), numel); err != nil {
		return nil, fmt.Errorf("storage %q: %w", key, err)
	}
	loaded[key] = s
	return s, nil
}
