"""Checkers of chapter 04a (TFLite quantisation): input quantisation, the int8
converter, the heaviest operator."""

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

    def heaviest_op(self, fn: Callable) -> Result:
        """``fn(interpreter)`` returns the index of the operator with the most MACs."""
        import tempfile

        from mnist_course import export, models

        model = models.compact_cnn()
        representative = np.random.default_rng(0).uniform(0, 1, (20, 28, 28, 1))
        with tempfile.TemporaryDirectory() as folder:
            saved = export.export_saved_model(model, folder, "probe", 1)
            lite = export.TFLiteModel(export.to_tflite(saved, "int8", representative))
        costs = lite.op_macs()
        most = max(macs for _, _, macs in costs)
        heaviest = {i for i, _, macs in costs if macs == most}  # ties: any of them is right
        got, problem = attempt(fn, lite.interpreter)
        if problem:
            return self._report("heaviest_op", [problem])
        problems = []
        if got not in heaviest:
            named = {i: (name, macs) for i, name, macs in costs}
            seen = named.get(got, ("not an operator index", 0))
            problems.append(f"operator {got} ({seen[0]}, {seen[1]:,} MACs) is not the heaviest; "
                            "count MACs from the output and weight shapes of each CONV_2D, "
                            "DEPTHWISE_CONV_2D and FULLY_CONNECTED.")
        return self._report("heaviest_op", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
