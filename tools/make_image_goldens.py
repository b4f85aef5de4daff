#!/usr/bin/python3
# Makes the small synthetic test images in test/fixtures/images and their Pillow goldens
# (decoded RGB, uint8 bicubic resizes, CLIP preprocessing) so TS can be checked bit-exactly.
#
# Run with Debian's python3 (it has Pillow and numpy): /usr/bin/python3 tools/make_image_goldens.py
# With `--photos OUT_DIR IMG...` it writes goldens for given photos instead (used by test/data/photos.test.ts).
# The preprocessing below follows transformers' CLIPImageProcessor step by step (convert_to_rgb
# onto white, shortest-edge size rule, PIL resize with reducing_gap=None, center crop offsets,
# float64 rescale cast to float32, float32 normalise) written out here because transformers is
# not installed on this machine.
import json
import os
import sys

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'images')
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SEED = 20240601
EXIF_ORIENTATION = 0x0112


def synth_rgb(rng, w, h):
    """Smooth gradients + stripes + noise: exercises every coefficient of the filters."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * (x / max(w - 1, 1))
    g = 127.5 + 127.5 * np.sin(y / 3.0 + x / 7.0)
    b = np.where(((x // 3 + y // 5) % 2) == 0, 250.0, 5.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 20, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_images(rng):
    images = {}
    images['landscape.png'] = Image.fromarray(synth_rgb(rng, 97, 61), 'RGB')
    images['portrait.png'] = Image.fromarray(synth_rgb(rng, 50, 173), 'RGB')
    images['tiny.png'] = Image.fromarray(synth_rgb(rng, 20, 13), 'RGB')
    rgba = np.concatenate([synth_rgb(rng, 40, 30), rng.integers(0, 256, (30, 40, 1), dtype=np.uint8)], axis=-1)
    rgba[0, :, 3] = 0
    rgba[1, :, 3] = 255
    images['alpha.png'] = Image.fromarray(rgba, 'RGBA')
    images['gray.png'] = Image.fromarray(synth_rgb(rng, 33, 47)[:, :, 1], 'L')
    images['photo.jpg'] = Image.fromarray(synth_rgb(rng, 120, 80), 'RGB')
    images['rotated.jpg'] = Image.fromarray(synth_rgb(rng, 30, 18), 'RGB')
    palette = Image.fromarray(synth_rgb(rng, 26, 22), 'RGB').quantize(colors=16)
    palette.info['transparency'] = 3  # palette index 3 fully transparent: exercises the tRNS path
    images['palette.png'] = palette
    grey_alpha = np.stack([synth_rgb(rng, 23, 29)[:, :, 0], rng.integers(0, 256, (29, 23), dtype=np.uint8)], axis=-1)
    images['grey_alpha.png'] = Image.fromarray(grey_alpha, 'LA')
    return images


def save_images(images):
    for name, im in images.items():
        path = os.path.join(OUT, name)
        if name == 'rotated.jpg':
            exif = Image.Exif()
            exif[EXIF_ORIENTATION] = 6  # "rotate 90 CW to display": the processor must ignore it
            im.save(path, quality=90, exif=exif.tobytes())
        elif name.endswith('.jpg'):
            im.save(path, quality=90)
        else:
            im.save(path)


def convert_to_rgb(im):
    """transformers.image_transforms.convert_to_rgb: alpha composited onto opaque white."""
    if im.mode == 'RGB':
        return im
    rgba = im.convert('RGBA')
    background = Image.new('RGBA', rgba.size, (255, 255, 255))
    return Image.alpha_composite(background, rgba).convert('RGB')


def shortest_edge_size(w, h, shortest):
    """transformers get_resize_output_image_size(default_to_square=False): (width, height)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = shortest, int(shortest * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def center_crop(arr, ch, cw):
    """transformers center_crop on HWC, zero padding when the crop is larger than the image."""
    h, w = arr.shape[:2]
    top = (h - ch) // 2
    left = (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return arr[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    padded = np.zeros((nh, nw, arr.shape[2]), dtype=arr.dtype)
    tp = (nh - h + 1) // 2
    lp = (nw - w + 1) // 2
    padded[tp:tp + h, lp:lp + w] = arr
    top += tp
    left += lp
    return padded[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def expand_to_square(im, color):
    """LLaVA's expand2square: paste centred on a square of the mean colour."""
    w, h = im.size
    if w == h:
        return im
    side = max(w, h)
    out = Image.new(im.mode, (side, side), color)
    out.paste(im, ((side - w) // 2, (side - h) // 2))
    return out


def preprocess(im, cfg):
    im = convert_to_rgb(im)
    if cfg.get('do_pad'):
        im = expand_to_square(im, tuple(int(m * 255) for m in cfg['image_mean']))
    size = cfg['size']
    if 'shortest_edge' in size:
        target = shortest_edge_size(im.size[0], im.size[1], size['shortest_edge'])
    else:
        target = (size['width'], size['height'])
    if target != im.size:
        im = im.resize(target, resample=Image.BICUBIC, reducing_gap=None)
    arr = np.asarray(im)
    if cfg.get('do_center_crop', True):
        arr = center_crop(arr, cfg['crop_size']['height'], cfg['crop_size']['width'])
    x = (arr.astype(np.float64) * cfg['rescale_factor']).astype(np.float32)
    mean = np.array(cfg['image_mean'], dtype=np.float32)
    std = np.array(cfg['image_std'], dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1).astype(np.float32))


def config(size, crop=None, do_pad=False):
    cfg = {
        'do_resize': True, 'size': size, 'resample': 3, 'do_center_crop': crop is not None,
        'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
        'image_mean': CLIP_MEAN, 'image_std': CLIP_STD, 'do_convert_rgb': True,
    }
    if crop is not None:
        cfg['crop_size'] = crop
    if do_pad:
        cfg['do_pad'] = True
    return cfg


PREPROCESS_CONFIGS = {
    'clip_short48_crop40': config({'shortest_edge': 48}, {'height': 40, 'width': 40}),
    'llava15_pad_short32': config({'shortest_edge': 32}, {'height': 32, 'width': 32}, do_pad=True),
    'fixed_36x44_nocrop': config({'height': 36, 'width': 44}),
    'crop_larger_than_image': config({'shortest_edge': 12}, {'height': 20, 'width': 16}),
}

RESIZE_SIZES = [(31, 17), (140, 90), (97, 20), (13, 90), (1, 1), (7, 300)]


def photos_mode(out_dir, paths):
    """For tests on real photos: decoded RGB and preprocessing under each config, as raw files."""
    for p in paths:
        base = os.path.basename(p)
        with Image.open(p) as loaded:
            rgb = convert_to_rgb(loaded)
            rgb.load()
        np.asarray(rgb).tofile(os.path.join(out_dir, base + '.rgb'))
        for cname, cfg in PHOTO_CONFIGS.items():
            preprocess(rgb, cfg).astype('<f4').tofile(os.path.join(out_dir, f'{base}.{cname}.f32'))


PHOTO_CONFIGS = {
    'clip336': config({'shortest_edge': 336}, {'height': 336, 'width': 336}),
    'llava15_pad336': config({'shortest_edge': 336}, {'height': 336, 'width': 336}, do_pad=True),
    'clip224': config({'shortest_edge': 224}, {'height': 224, 'width': 224}),
}


def main():
    if len(sys.argv) > 2 and sys.argv[1] == '--photos':
        photos_mode(sys.argv[2], sys.argv[3:])
        return
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    images = make_images(rng)
    save_images(images)
    manifest = {'pillow': Image.__version__, 'configs': PREPROCESS_CONFIGS, 'images': []}
    for name in sorted(images):
        with Image.open(os.path.join(OUT, name)) as loaded:
            rgb = convert_to_rgb(loaded)
            rgb.load()
        base = os.path.splitext(name)[0]
        entry = {'file': name, 'width': rgb.size[0], 'height': rgb.size[1],
                 'decoded': f'golden/{base}.rgb', 'resizes': [], 'preprocess': {}}
        os.makedirs(os.path.join(OUT, 'golden'), exist_ok=True)
        np.asarray(rgb).tofile(os.path.join(OUT, entry['decoded']))
        for (w, h) in RESIZE_SIZES:
            out = rgb.resize((w, h), resample=Image.BICUBIC, reducing_gap=None)
            rel = f'golden/{base}.resize_{w}x{h}.rgb'
            np.asarray(out).tofile(os.path.join(OUT, rel))
            entry['resizes'].append({'width': w, 'height': h, 'file': rel})
        for cname, cfg in PREPROCESS_CONFIGS.items():
            x = preprocess(rgb, cfg)
            rel = f'golden/{base}.{cname}.f32'
            x.astype('<f4').tofile(os.path.join(OUT, rel))
            entry['preprocess'][cname] = {'file': rel, 'shape': list(x.shape)}
        manifest['images'].append(entry)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    print(f'wrote {len(images)} images and goldens to {os.path.normpath(OUT)}', file=sys.stderr)


if __name__ == '__main__':
    main()
