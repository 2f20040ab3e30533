"""MNIST's preprocessing inside the served model: a ``canvas`` signature that takes a raw
drawing and does what MNIST's makers did to every digit, in TensorFlow ops, so that no
client can get it wrong (the training/serving skew of a browser page that sends its canvas).

``preprocess`` follows ``mnist_course.uci.mnist_format`` step by step: crop to the ink, scale
the longer side to 20 pixels keeping the aspect ratio, place the result in 28x28 so that its
centre of mass falls on the centre. ``add_canvas_signature`` gives any SavedModel exported by
``mnist_course.export`` that second signature; ``export_saved_model`` exports with it.

The signature ``canvas`` takes ``canvas``: uint8 ``(N, H, W)``, white ink on black, any size
from 8 to ``MAX_SIDE`` pixels a side; it returns ``probabilities`` (float32 ``(N, 10)``) and
``image`` (uint8 ``(N, 28, 28)``, what the model saw). A blank canvas or one outside the size
limits fails with a message the server passes on (the graph checks it, so the real
``tensorflow_model_server`` refuses it in the same words).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mnist_course import export
from mnist_course.course.profile import import_tensorflow

tf = import_tensorflow()  # the module is TensorFlow ops; its start-up lines kept quiet

SIGNATURE = "canvas"
MAX_SIDE = 1024  # pixels: a larger canvas is refused (a phone's canvas is far smaller)
MIN_SIDE = 8
BOX, SIZE = 20, 28  # MNIST: the digit's longer side, and the field it is centred in
BLANK = "draw a digit first: the canvas is blank (no pixel above 0)"


def preprocess(canvas):
    """uint8 ``(N, H, W)`` drawings to uint8 ``(N, 28, 28)`` digits in MNIST's format."""
    canvas = tf.convert_to_tensor(canvas, tf.uint8)
    height, width = tf.shape(canvas)[1], tf.shape(canvas)[2]
    too_big = f"the canvas may be at most {MAX_SIDE}x{MAX_SIDE} pixels"
    checks = [
        tf.debugging.assert_less_equal(tf.maximum(height, width), MAX_SIDE, message=too_big),
        tf.debugging.assert_greater_equal(tf.minimum(height, width), MIN_SIDE,
                                          message=f"the canvas must be at least {MIN_SIDE}"
                                                  f"x{MIN_SIDE} pixels"),
    ]
    with tf.control_dependencies(checks):
        return tf.map_fn(_one, canvas, fn_output_signature=tf.TensorSpec((SIZE, SIZE),
                                                                         tf.uint8))


def _one(image):
    rows = tf.where(tf.reduce_any(image > 0, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(image > 0, axis=0))[:, 0]
    with tf.control_dependencies([tf.debugging.Assert(tf.size(rows) > 0, [BLANK])]):
        ink = tf.cast(image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], tf.float32)
    shape = tf.cast(tf.shape(ink), tf.float32)
    # the longer side to BOX pixels, the other in proportion (rounded as scipy's zoom does)
    target = tf.maximum(tf.cast(tf.round(shape * BOX / tf.reduce_max(shape)), tf.int32), 1)
    # bilinear; antialias averages the many canvas pixels that fall into one MNIST pixel
    scaled = tf.image.resize(ink[..., None], target, method="bilinear", antialias=True)
    scaled = tf.clip_by_value(scaled[..., 0], 0.0, 255.0)
    h, w = target[0], target[1]
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    field = tf.pad(scaled, [[top, SIZE - h - top], [left, SIZE - w - left]])
    # shift the centre of mass onto the field's centre, to the nearest pixel, zeros coming in
    mass = tf.reduce_sum(field)
    grid = tf.range(SIZE, dtype=tf.float32)
    centre_y = tf.reduce_sum(tf.reduce_sum(field, axis=1) * grid) / mass
    centre_x = tf.reduce_sum(tf.reduce_sum(field, axis=0) * grid) / mass
    middle = (SIZE - 1) / 2
    dy = tf.cast(tf.round(middle - centre_y), tf.int32)
    dx = tf.cast(tf.round(middle - centre_x), tf.int32)
    padded = tf.pad(field, [[SIZE, SIZE], [SIZE, SIZE]])
    shifted = padded[SIZE - dy:2 * SIZE - dy, SIZE - dx:2 * SIZE - dx]
    return tf.cast(tf.round(shifted), tf.uint8)


def add_canvas_signature(saved_model_dir: str | os.PathLike,
                         target: str | os.PathLike) -> Path:
    """Write ``saved_model_dir`` (a SavedModel whose ``serving_default`` maps float32
    ``(N, 28, 28, 1)`` images in [0, 1] to ten logits) to ``target`` with the ``canvas``
    signature beside it; ``serving_default`` is kept as it is. ``target`` must not exist; it
    appears whole or not at all."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists: versions are immutable, write a new one")
    loaded = tf.saved_model.load(str(saved_model_dir))
    default = loaded.signatures["serving_default"]
    (image_key,) = default.structured_input_signature[1]
    (logits_key,) = default.structured_outputs

    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.uint8,
                                                 name=SIGNATURE)])
    def from_canvas(canvas):
        image = preprocess(canvas)
        x = tf.cast(image, tf.float32)[..., None] / 255.0
        logits = default(**{image_key: x})[logits_key]
        return {"probabilities": tf.nn.softmax(logits), "image": image}

    module = tf.Module()
    module.model, module.from_canvas = loaded, from_canvas
    if hasattr(loaded, "serve"):  # Keras's endpoint: `tf.saved_model.load(path).serve(x)`
        module.serve = loaded.serve
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tf.saved_model.save(module, str(staging / "model"), signatures={
            "serving_default": default, SIGNATURE: from_canvas})
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def export_saved_model(model, base: str | os.PathLike, name: str = "mnist",
                       version: int = 1) -> Path:
    """``export.export_saved_model`` with the ``canvas`` signature: ``base/name/version``."""
    with tempfile.TemporaryDirectory() as plain:
        source = export.export_saved_model(model, plain, name=name, version=version)
        return add_canvas_signature(source, Path(base) / name / str(int(version)))


def with_canvas(base: str | os.PathLike, scratch: str | os.PathLike) -> Path:
    """A model base path whose latest version has the ``canvas`` signature: ``base`` itself
    when it has, else ``scratch/<name>`` holding a copy of that version with the signature
    added (an export made before the signature existed)."""
    from mnist_course.serving.versions import ModelManager, read_signatures

    base = Path(base)
    versions = ModelManager.versions_on_disk(base)
    if not versions:
        raise FileNotFoundError(f"{base} holds no model version (<number>/saved_model.pb); "
                                "chapter 08 ships the course's model in models/mnist/")
    latest = base / str(versions[-1])
    if SIGNATURE in read_signatures(latest).signature_def:
        return base
    add_canvas_signature(latest, Path(scratch) / base.name / latest.name)
    return Path(scratch) / base.name
