package data

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// EncodeNPY returns im as a little-endian float32 C-order .npy (format 1.0)
// of shape (C, H, W). npyio's writer only knows 1-d slices and 2-d matrices,
// so the 3-d header is written here; reading goes through npyio.
func EncodeNPY(im Image) []byte {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", im.C, im.H, im.W)
	// Magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	out := make([]byte, 0, 10+len(header)+4*len(im.Pix))
	out = append(out, "\x93NUMPY\x01\x00"...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	for _, v := range im.Pix {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// WriteNPY writes im to path as .npy (see EncodeNPY), atomically.
func WriteNPY(path string, im Image) error {
	return writeFileAtomic(path, EncodeNPY(im))
}
