// Package sim simulates ground-based survey cutouts of strong gravitational
// lenses and of non-lenses, the project's stand-in for the real HSC images.
//
// # Images
//
// An image is a data.Image of shape (3, Size, Size), float32, bands g, r, i,
// sky-subtracted (empty sky scatters about 0). Pixel values are fluxes in
// counts per second at the survey preset's zero point: a source of magnitude
// m has 10^(-0.4 (m - zp)) in total. For the default hsc preset zp = 27.0,
// the unit of the HSC coadds, which is what the real data appears to hold:
// with the population in presets.yaml the per-band mean of the 32 x 32 centre
// crops of the seed-sized dataset is within 6% of the real data's (g, r, i =
// 0.20, 0.67, 1.29; TestSmallDataset checks a factor of 2 on the small one). The des and lsst presets
// count electrons per second at lenstronomy's zero points, so their fluxes are
// on other scales.
//
// Positions are arcsec from the stamp centre, x along columns and y along
// rows; pixel (row i, column j) is centred at ((j + 0.5 - Size/2) p,
// (i + 0.5 - Size/2) p) for pixel scale p. Angles run from +x towards +y.
//
// # Model
//
// Each image draws, from presets.yaml: per-band seeing; a central object (for
// lenses a red early-type galaxy with a singular isothermal ellipsoid plus
// external shear, and a blue Sersic source with star-forming clumps; for
// non-lenses an elliptical, disk, edge-on disk, pair or merger, ring galaxy
// or spiral); neighbouring galaxies, satellites of the central galaxy,
// stars and artefacts. The early-type galaxies of both classes are a
// redshift and a velocity dispersion: magnitude (Faber-Jackson, distance
// modulus, K+e correction), red-sequence colours and size in kpc follow, and
// the Einstein radius is 4 pi (sigma/c)^2 D_ls/D_s for a source redshift, in
// flat Lambda-CDM (cosmology.go). A lens's source magnitude comes from the
// faint galaxy number counts and the lens is kept as LensPop counts one
// detectable: magnification at least 3 and a best-band arc S/N of at least
// min_snr (the renderer picks the source position, then its magnitude from
// the counts below the S/N limit). The scene is integrated over pixels with
// adaptive supersampling (sources by ray shooting through the lens),
// convolved with the band's PSF (Gaussian or Moffat, normalised over the
// plane, its wings kept until they add less than 0.1 sky sigma to a pixel)
// by FFT, stars added as the PSF integrated over pixels out to the same
// threshold, saturated pixels and the bleed trails their charge makes along
// columns masked alike in every band and interpolated across rows, Gaussian
// noise added, and dead or hot columns applied last. Each pixel's noise
// sigma is that of sky and source shot noise and read noise, as lenstronomy computes
// them: variance (N RN^2 + gain T (S p^2 + F)) / (gain T)^2 for N exposures of
// total time T, sky S per arcsec^2 and pixel flux F. Each image scales it per
// band by 10^(0.4 dm), its depth offset dm ~ N(0, depth_scatter) mag, as its
// seeing scatters log-normally by seeing_scatter. The noise is correlated as
// a coadd's: the mean of N white fields, each resampled with a Lanczos-3
// kernel at its own random sub-pixel dither and scaled to unit variance per
// pixel (coadd.go), so neighbouring pixels correlate by ~0.1 while each
// pixel keeps its sigma. Params records every drawn value, the per-band sky
// sigma included; WriteDataset writes them to metadata.csv.
//
// # Measurement
//
// RenderParts returns an image with its components: the noise-free scene,
// the lensed source alone (both after the PSF) and the noise sigma of each
// pixel, without touching the image's random numbers. Measure renders a
// sample of a dataset that way and reports its realism (LensPop arc S/N,
// sky noise and its pixel-to-pixel correlation, lens colours, Einstein radii
// and shear, neighbour counts, the AUC of single centre-crop features, the
// centre-crop statistics) beside published figures, as Markdown and JSON;
// `sslens simulate --report` writes it.
//
// # Determinism
//
// Image i of a dataset uses a PCG generator seeded with (Seed, i) alone and
// no state shared with other images, so the files are the same for any
// worker count. They are byte-identical across amd64 machines; other
// architectures have their own math library assembly and may fuse
// multiply-adds, so their last bits can differ.
package sim
