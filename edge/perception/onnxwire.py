"""Set an ONNX model's input size without the ``onnx`` package: an edit of its protobuf wire.

The YOLOX export fixes its input at 416x416 (its graph is size-agnostic: reshapes are
[1, 85, -1], resizes are scales). cv2.dnn re-infers shapes for any blob; onnxruntime checks the
declared shape, so the 320 input needs the declaration changed. Only three things are touched:
the image input's H and W (set), the outputs' shapes and the graph's value_info (dropped; they
are optional shape hints that would contradict the new size). Everything else is copied byte
for byte. Field numbers are onnx.proto3's (ModelProto.graph = 7, GraphProto.input = 11,
output = 12, value_info = 13, ValueInfoProto.type = 2, TypeProto.tensor_type = 1,
Tensor.shape = 2, TensorShapeProto.dim = 1, Dimension.dim_value = 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Field = tuple[int, int, bytes]  # (field number, wire type, raw value bytes without the key)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def _enc_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[Field]:
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        start = i
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = _varint(buf, i)
            start, i = i, i + n
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}: not an ONNX model?")
        if i > len(buf):
            raise ValueError("truncated protobuf: not an ONNX model?")
        yield number, wire, buf[start:i]


def _encode(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _enc_varint(number << 3 | wire)
        if wire == 2:
            out += _enc_varint(len(value))
        out += value
    return bytes(out)


def _edit(buf: bytes, edits: dict[int, Callable[[bytes], bytes | None]]) -> bytes:
    """Re-encode ``buf`` with length-delimited field N replaced by edits[N](value)
    (None drops it)."""
    out: list[Field] = []
    for number, wire, value in _fields(buf):
        if wire == 2 and number in edits:
            new = edits[number](value)
            if new is None:
                continue
            value = new
        out.append((number, wire, value))
    return _encode(out)


def _drop_shape(value_info: bytes) -> bytes:
    def tensor(tt: bytes) -> bytes:
        return _edit(tt, {2: lambda _: None})

    return _edit(value_info, {2: lambda t: _edit(t, {1: tensor})})


def _sized_shape(shape: bytes, height: int, width: int) -> bytes:
    dims = [v for n, w, v in _fields(shape) if n == 1 and w == 2]
    if len(dims) != 4:
        raise ValueError(f"the model's input has {len(dims)} dimensions, expected NCHW")
    dims[2], dims[3] = (_encode([(1, 0, _enc_varint(v))]) for v in (height, width))
    return _encode([(1, 2, d) for d in dims])


def with_input_size(model: bytes, height: int, width: int) -> bytes:
    """``model`` (serialised ModelProto) with its first graph input declared (N, C, height,
    width) and no declared output or intermediate shapes."""
    done: list[bool] = []

    def graph_input(vi: bytes) -> bytes:
        if done:  # only the first input is the image; later ones are initialiser copies
            return vi
        done.append(True)
        return _edit(vi, {2: lambda t: _edit(t, {1: lambda tt: _edit(
            tt, {2: lambda s: _sized_shape(s, height, width)})})})

    def graph(g: bytes) -> bytes:
        return _edit(g, {11: graph_input, 12: _drop_shape, 13: lambda _: None})

    out = _edit(model, {7: graph})
    if not done:
        raise ValueError("no graph input found: not an ONNX model?")
    return out
