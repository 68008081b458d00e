// Package pretrained imports public pretrained ViT backbones (timm, DINO,
// iBOT) as sslens checkpoints, so that a lens classifier can be fine-tuned
// from natural-image self-supervised weights.
//
// Import reads a safetensors file, or a PyTorch checkpoint written by
// torch.save (a zip archive holding a pickle), without running any code it
// holds: the pickle is read by github.com/nlpodyssey/gopickle with an
// allow-list of globals (tensor rebuilds, storage types, plain containers)
// and any other global, such as os.system, refuses the file by name.
//
// The state dict is the file itself, or its "teacher" (DINO's and iBOT's
// default, as their evaluations use), "student", "state_dict" or "model";
// keys lose DINO's "module.backbone." or "backbone." prefix. The
// architecture follows from the shapes: width and patch size from
// patch_embed.proj.weight (dim, 3, 8, 8), which must cut 8 px patches as
// sslens's ViTs do; depth from the blocks; heads from Options, else 64
// wide as in every public ViT (timm, DINO, iBOT). A shape no preset has is kept as a
// custom architecture recorded in the sidecar (ckpt.Architecture). The
// position embedding, learned on a 28x28 grid at 224 px, is resampled to
// sslens's 4x4 grid at 32 px with vit.PosEmbedMatrix, the rule DINO applies
// to other input sizes. Classifier heads, DINO and iBOT projection heads and
// iBOT's mask token are left out and listed in the sidecar.
//
// Natural-image weights meet sslens's 3 bands g, r, i through the patch
// embedding's RGB channels. By default the bands are reversed: i, r, g go
// to R, G, B, so the reddest band meets the channel that learned red and
// the ordering of colours by wavelength is kept (Options.KeepChannels
// keeps the stored order, for weights already trained on g, r, i).
package pretrained
