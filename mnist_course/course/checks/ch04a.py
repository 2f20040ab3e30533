"""Checkers of chapter 04a (TFLite quantisation): input quantisation, the int8
converter, a throughput curve timed in alternating rounds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without, probe_lenet


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""


    def quantize_input(self, fn: Callable[[np.ndarray, float, int], np.ndarray]) -> Result:
        """``fn(images, scale, zero_point)``: float to uint8, rounded and clipped."""
        from mnist_course.export import quantize

        x = np.array([0.0, 0.5, 1.0, 0.001, 0.999, 1.2, -0.1], dtype=np.float32)
        problems = []
        for scale, zero_point in ((1 / 255, 0), (0.0078125, 128), (0.02, 3)):
            got, problem = attempt_without((quantize,), fn, x.copy(), scale, zero_point)
            if problem:
                return self._report("quantize_input", [problem])
            got = np.asarray(got)
            expected = quantize(x, scale, zero_point, np.uint8)
            if got.dtype != np.uint8:
                problems.append(f"return uint8, got {got.dtype}.")
                break
            if not np.array_equal(got, expected):
                hint = ""
                if np.array_equal(got, (x / scale + zero_point).clip(0, 255).astype(np.uint8)):
                    hint = " Round before converting: astype truncates."
                problems.append(f"scale {scale}, zero point {zero_point}: expected "
                                f"{expected.tolist()}, got {got.tolist()}.{hint}")
        return self._report("quantize_input", problems)

    def int8_converter(self, fn: Callable) -> Result:
        """``fn(saved_model_dir, representative)`` returns a full-integer TFLite flatbuffer."""
        import tempfile

        from mnist_course import data, export

        model, split = probe_lenet(3000, epochs=1)
        x = data.to_model_input(split.x_train[:3000])
        with tempfile.TemporaryDirectory() as folder:
            saved = export.export_saved_model(model, folder, "probe", 1)
            flatbuffer, problem = attempt_without((export.to_tflite,), fn, str(saved), x[:100])
        if problem:
            return self._report("int8_converter", [problem])
        if not isinstance(flatbuffer, bytes):
            return self._report("int8_converter", [
                f"return the converter's bytes, got {type(flatbuffer).__name__}."])
        lite = export.TFLiteModel(flatbuffer)
        problems = []
        floats = [t for t in lite.tensor_types() if t.startswith("float")]
        if floats:
            problems.append(f"float tensors remain ({', '.join(floats)}): restrict the ops to "
                            "TFLITE_BUILTINS_INT8 and give a representative dataset.")
        for side, detail in (("input", lite.input), ("output", lite.output)):
            if detail["dtype"] != np.uint8:
                problems.append(f"the {side} is {detail['dtype'].__name__}, not uint8: set "
                                f"inference_{side}_type.")
        if not problems:
            x_test = data.to_model_input(split.x_test[:1000])
            float_acc = np.mean(model.predict(x_test, verbose=0).argmax(-1) == split.y_test[:1000])
            int8_acc = np.mean(lite.predict(x_test).argmax(-1) == split.y_test[:1000])
            if (float_acc - int8_acc) * 100 > 1.0:
                problems.append(f"accuracy fell from {float_acc:.3f} to {int8_acc:.3f}: is the "
                                "representative data scaled like the training data?")
        return self._report("int8_converter", problems)

    def throughput_curve(self, fn: Callable) -> Result:
        """``fn(predict, images, batch_sizes, rounds)`` returns ``{batch size: images/s}``,
        the median over rounds, with the sizes visited in an order that changes between
        rounds. Probed with a stand-in model whose call costs a fixed 2 ms plus 0.05 ms an
        image, so the right curve is known (timing noise is allowed a factor of 2)."""
        import time

        calls = []

        def predict(batch):
            calls.append(len(batch))
            time.sleep(0.002 + 0.00005 * len(batch))
            return np.zeros((len(batch), 10), np.float32)

        sizes, rounds = [1, 8, 64], 4
        images = np.zeros((64, 28, 28, 1), np.float32)
        got, problem = attempt(fn, predict, images, sizes, rounds)
        if problem:
            return self._report("throughput_curve", [problem])
        if not isinstance(got, dict) or sorted(got) != sizes:
            return self._report("throughput_curve", [
                f"return a dict keyed by the batch sizes {sizes}, got {got!r:.80}."])
        problems = []
        for b in sizes:
            right = b / (0.002 + 0.00005 * b)
            if not right / 2 < float(got[b]) < right * 2:
                problems.append(f"batch {b}: {float(got[b]):,.0f} images/s, expected about "
                                f"{right:,.0f} (images per call over the call's seconds).")
        timed = [b for b in calls if b in sizes]
        if timed.count(64) < rounds:
            problems.append(f"batch 64 was called {timed.count(64)} times for {rounds} rounds: "
                            "time every size once in every round.")
        visits = [b for k, b in enumerate(timed) if k == 0 or b != timed[k - 1]]
        tail = visits[-len(sizes) * rounds:]
        if len(tail) == len(sizes) * rounds and tail == tail[: len(sizes)] * rounds:
            problems.append("every round visits the sizes in the same order, so a machine "
                            "that slows down during the run favours the first sizes: "
                            "reverse (or shuffle) the order in alternate rounds.")
        return self._report("throughput_curve", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
