/* Optional C speedups for ws.frames: unmasking a payload (RFC 6455 5.3) and
 * splitting a buffer into frames (RFC 6455 5.2).  The pure-Python functions in
 * ws/frames.py stay the reference and the default when this cannot be compiled;
 * the tests check that both give the same results. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* XOR n bytes of *in* with the 4-byte mask *m* repeated, into *out*. */
static void
unmask(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char *m)
{
    Py_ssize_t i = 0;
    uint32_t m32;
    uint64_t m64;

    memcpy(&m32, m, 4);
    m64 = ((uint64_t)m32 << 32) | m32;
    /* Eight bytes at a time; memcpy keeps unaligned access defined. */
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= m64;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ m[i & 3];
    }
}


static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        unmask((unsigned char *)PyBytes_AS_STRING(result), (const unsigned char *)data.buf, data.len,
               (const unsigned char *)mask.buf);
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

/* split_frames(data, expect_mask, rsv1_ok, limit) -> (frames, consumed, error)
 *
 * The C twin of ws.frames.split_frames_py, which documents the contract: every
 * complete frame at the start of *data* as ws.frames.Frame tuples, how many bytes
 * they took, and the ProtocolError (or PayloadTooBig) met after them, or None.
 * The checks, their order and their messages are the same as in Python; the
 * tests compare the two on arbitrary input.  configure() hands over the Python
 * types once, when ws.frames is imported. */

static PyObject *frame_type;       /* ws.frames.Frame */
static PyObject *opcodes;          /* ws.frames._OPCODES: 16 entries, None = reserved */
static PyObject *protocol_error;   /* ws.exceptions.ProtocolError */
static PyObject *payload_too_big;  /* ws.exceptions.PayloadTooBig */
static PyObject *binary_type;      /* ws.messages.DataMessage, a bytes subclass */

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *ft, *ops, *pe, *ptb, *bt;

    if (!PyArg_ParseTuple(args, "O!O!OOO!:configure", &PyType_Type, &ft, &PyTuple_Type, &ops, &pe, &ptb,
                          &PyType_Type, &bt)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(ops) != 16 || !PyType_IsSubtype((PyTypeObject *)ft, &PyTuple_Type)
        || !PyType_IsSubtype((PyTypeObject *)bt, &PyBytes_Type)) {
        PyErr_SetString(PyExc_ValueError, "configure needs a tuple type, 16 opcodes and a bytes type");
        return NULL;
    }
    Py_INCREF(ft); Py_XSETREF(frame_type, ft);
    Py_INCREF(ops); Py_XSETREF(opcodes, ops);
    Py_INCREF(pe); Py_XSETREF(protocol_error, pe);
    Py_INCREF(ptb); Py_XSETREF(payload_too_big, ptb);
    Py_INCREF(bt); Py_XSETREF(binary_type, bt);
    Py_RETURN_NONE;
}

/* A payload of n bytes to fill.  A complete uncompressed binary frame is already
 * a whole binary message: its payload is built as binary_type, so that making the
 * message from it costs no second copy (ws.protocol checks the type).  A bytes
 * subclass is allocated as bytes_subtype_new does it: tp_alloc zeroes the object,
 * so the hash is marked as not computed yet and the trailing NUL written. */
static PyObject *
new_payload(Py_ssize_t n, int whole_binary)
{
#if PY_VERSION_HEX < 0x030F0000  /* the layout checked: CPython 3.11 to 3.14 */
    PyObject *obj;

    if (whole_binary && binary_type != NULL) {
        obj = ((PyTypeObject *)binary_type)->tp_alloc((PyTypeObject *)binary_type, n);
        if (obj != NULL) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            ((PyBytesObject *)obj)->ob_shash = -1;  /* deprecated for readers, still the cache */
#pragma GCC diagnostic pop
            PyBytes_AS_STRING(obj)[n] = '\0';
        }
        return obj;
    }
#endif
    (void)whole_binary;
    return PyBytes_FromStringAndSize(NULL, n);
}

static PyObject *
split_frames(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int expect_mask, rsv1_ok;
    PyObject *limit_obj, *frames = NULL, *error = NULL, *result = NULL;
    long long limit = 0;
    int has_limit = 0;
    Py_ssize_t n, off = 0;
    const unsigned char *data;

    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ws._speedups.configure was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*ppO:split_frames", &view, &expect_mask, &rsv1_ok, &limit_obj)) {
        return NULL;
    }
    if (limit_obj != Py_None) {
        int overflow;
        limit = PyLong_AsLongLongAndOverflow(limit_obj, &overflow);
        if (limit == -1 && PyErr_Occurred()) {
            goto done;
        }
        /* As in Python: a limit past 2**63 bounds nothing, one below -2**63 refuses all. */
        has_limit = overflow <= 0;
        if (overflow < 0) {
            limit = -1;
        }
    }
    frames = PyList_New(0);
    if (frames == NULL) {
        goto done;
    }
    data = (const unsigned char *)view.buf;
    n = view.len;
    while (n - off >= 2) {
        unsigned char b0 = data[off], b1 = data[off + 1];
        unsigned int code = b0 & 0x0F;
        PyObject *opcode = PyTuple_GET_ITEM(opcodes, code);
        int masked = (b1 & 0x80) != 0;
        unsigned long long length = b1 & 0x7F;
        Py_ssize_t pos = off + 2, end;
        PyObject *payload, *frame;

        if (opcode == Py_None) {
            PyObject *text = PyUnicode_FromFormat("reserved opcode %u", code);
            if (text != NULL) {
                error = PyObject_CallOneArg(protocol_error, text);
                Py_DECREF(text);
            }
            break;
        }
        if ((b0 & 0x70) && ((b0 & 0x30) || !rsv1_ok)) {
            /* RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them;
             * permessage-deflate defines RSV1 (RFC 7692 6). */
            error = PyObject_CallFunction(protocol_error, "s", "reserved bits set");
            break;
        }
        if (code >= 8) {
            /* RFC 6455 5.5: control frames are not fragmented, carry <= 125 bytes. */
            const char *why = NULL;
            if (!(b0 & 0x80)) {
                why = "fragmented control frame";
            } else if (length > 125) {
                why = "control frame too long";
            } else if (b0 & 0x40) {
                why = "compressed control frame";
            }
            if (why != NULL) {
                error = PyObject_CallFunction(protocol_error, "s", why);
                break;
            }
        }
        if (masked != (expect_mask != 0)) {
            /* RFC 6455 5.1: clients MUST mask, servers MUST NOT. */
            error = PyObject_CallFunction(protocol_error, "s", "incorrect masking");
            break;
        }
        if (length == 126) {
            if (n - pos < 2) {
                break;
            }
            length = ((unsigned long long)data[pos] << 8) | data[pos + 1];
            pos += 2;
        } else if (length == 127) {
            int i;
            if (n - pos < 8) {
                break;
            }
            length = 0;
            for (i = 0; i < 8; i++) {
                length = (length << 8) | data[pos + i];
            }
            if (length >> 63) {
                error = PyObject_CallFunction(protocol_error, "s", "frame length with the high bit set");
                break;
            }
            pos += 8;
        }
        if (has_limit && (long long)length > limit) {  /* length < 2**63, checked above */
            PyObject *text = PyUnicode_FromFormat(
                "frame of %llu bytes exceeds the limit of %S", length, limit_obj);
            if (text != NULL) {
                error = PyObject_CallOneArg(payload_too_big, text);
                Py_DECREF(text);
            }
            break;
        }
        /* What is left in the buffer bounds the frame: a longer one waits for more. */
        if (length > (unsigned long long)(n - pos)) {
            break;
        }
        if (masked && (Py_ssize_t)length > n - pos - 4) {
            break;
        }
        payload = new_payload((Py_ssize_t)length, code == 2 && (b0 & 0xC0) == 0x80);
        if (payload == NULL) {
            goto done;
        }
        if (masked) {
            unmask((unsigned char *)PyBytes_AS_STRING(payload), data + pos + 4, (Py_ssize_t)length, data + pos);
            end = pos + 4 + (Py_ssize_t)length;
        } else {
            memcpy(PyBytes_AS_STRING(payload), data + pos, (size_t)length);
            end = pos + (Py_ssize_t)length;
        }
        /* A Frame is a tuple subclass: allocate it as tuple.__new__ would. */
        frame = ((PyTypeObject *)frame_type)->tp_alloc((PyTypeObject *)frame_type, 4);
        if (frame == NULL) {
            Py_DECREF(payload);
            goto done;
        }
        Py_INCREF(opcode);
        PyTuple_SET_ITEM(frame, 0, opcode);
        PyTuple_SET_ITEM(frame, 1, payload);
        PyTuple_SET_ITEM(frame, 2, Py_NewRef((b0 & 0x80) ? Py_True : Py_False));
        PyTuple_SET_ITEM(frame, 3, Py_NewRef((b0 & 0x40) ? Py_True : Py_False));
        if (PyList_Append(frames, frame) < 0) {
            Py_DECREF(frame);
            goto done;
        }
        Py_DECREF(frame);
        off = end;
    }
    if (error == NULL && PyErr_Occurred()) {
        goto done;  /* building the exception failed */
    }
    result = Py_BuildValue("(NnN)", frames, off, error != NULL ? error : Py_NewRef(Py_None));
    frames = NULL;
    error = NULL;
done:
    Py_XDECREF(frames);
    Py_XDECREF(error);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a 4-byte mask repeated."},
    {"configure", configure, METH_VARARGS, "Hand over Frame, the opcode table and the exception types."},
    {"split_frames", split_frames, METH_VARARGS, "Split a buffer into frames; see ws.frames.split_frames_py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ws._speedups", "C speedups for ws.frames.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
