/* Optional C speedup for ws.frames.apply_mask: XOR a payload with a 4-byte mask
 * (RFC 6455 5.3).  The pure-Python implementation in ws/frames.py stays the
 * reference and the default when this cannot be compiled. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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
    if (result == NULL) {
        goto done;
    }
    {
        const unsigned char *in = (const unsigned char *)data.buf;
        const unsigned char *m = (const unsigned char *)mask.buf;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        Py_ssize_t n = data.len, i = 0;
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
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

static PyMethodDef methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a 4-byte mask repeated."},
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
