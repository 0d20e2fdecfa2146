/* main.c: test harness of a model compiled by `pexcp compile --harness`.
 *
 * Host build (make host):  ./model_host in0.bin [in1.bin ...] -o outdir
 *   Input i is read from the i-th file as raw little-endian values of its type (float32, int8, int64, ...) in the
 *   model's declared layout (as onnxruntime and TFLite Micro take it); output j is written to
 *   outdir/out<j>.bin the same way.
 * Cortex-M build (make qemu, PEXCP_QEMU defined): fills the inputs with built-in pseudo-random values
 *   (xorshift32 below: floats in [-1, 1), int8 values the top byte, in stored order), runs the model once
 *   and prints over semihosting the outputs (exact float32 bits or the int8 value, and a decimal), static
 *   RAM, the stack high-water mark and the instructions model_run() executed (SysTick under qemu -icount
 *   shift=0).
 * Both fill the arena with 0xFF bytes first (NaNs as float32), so a step that reads bytes no step wrote
 * shows in the outputs.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "model.h"

static const char *type_name(const harness_port *p)
{
    static const char *const names[] = {"float32", "int8", "uint8", "int16", "int32", "int64"};
    return names[p->dtype];
}

static size_t elem_size(const harness_port *p)
{
    static const size_t sizes[] = {4, 1, 1, 2, 4, 8};
    return sizes[p->dtype];
}

static long port_size(const harness_port *p)
{
    long n = 1;
    for (int k = 0; k < p->rank; ++k)
        n *= p->dims[k];
    return n;
}

/* where the element at stored (row-major) index i sits in the declared layout */
static long declared_offset(const harness_port *p, long i)
{
    long offset = 0;
    for (int k = p->rank - 1; k >= 0; --k) {
        offset += (i % p->dims[k]) * p->steps[k];
        i /= p->dims[k];
    }
    return offset;
}

#ifndef PEXCP_QEMU
#include <stdlib.h>

static int load(const harness_port *p, void *stored, const char *path)
{
    const long n = port_size(p);
    const size_t size = elem_size(p);
    unsigned char *raw = malloc((size_t)n * size);
    FILE *f = fopen(path, "rb");
    int ok = raw && f && fread(raw, size, (size_t)n, f) == (size_t)n && fgetc(f) == EOF;
    if (ok)
        for (long i = 0; i < n; ++i)
            memcpy((unsigned char *)stored + (size_t)i * size, raw + (size_t)declared_offset(p, i) * size, size);
    else
        fprintf(stderr, "%s: expected exactly %ld %s values for input %s\n", path, n, type_name(p), p->name);
    if (f)
        fclose(f);
    free(raw);
    return ok;
}

static int save(const harness_port *p, const void *stored, const char *path)
{
    const long n = port_size(p);
    const size_t size = elem_size(p);
    unsigned char *raw = malloc((size_t)n * size);
    FILE *f = fopen(path, "wb");
    int ok = raw && f;
    if (ok) {
        for (long i = 0; i < n; ++i)
            memcpy(raw + (size_t)declared_offset(p, i) * size, (const unsigned char *)stored + (size_t)i * size, size);
        ok = fwrite(raw, size, (size_t)n, f) == (size_t)n;
    }
    if (f)
        ok = (fclose(f) == 0) && ok;
    if (!ok)
        fprintf(stderr, "%s: cannot write output %s\n", path, p->name);
    free(raw);
    return ok;
}

int main(int argc, char **argv)
{
    const char *inputs[MODEL_NUM_INPUTS];
    const char *outdir = NULL;
    int given = 0;
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
            outdir = argv[++a];
        else if (given < MODEL_NUM_INPUTS)
            inputs[given++] = argv[a];
        else
            given = MODEL_NUM_INPUTS + 1;
    }
    if (given != MODEL_NUM_INPUTS || outdir == NULL) {
        fprintf(stderr, "usage: %s in0.bin [in1.bin ...] -o outdir   (%d input file(s))\n", argv[0], MODEL_NUM_INPUTS);
        return 2;
    }
    memset(model_arena(), 0xFF, MODEL_ARENA_BYTES);
    for (int i = 0; i < MODEL_NUM_INPUTS; ++i)
        if (!load(&harness_inputs[i], model_input(i), inputs[i]))
            return 1;
    model_run();
    for (int j = 0; j < MODEL_NUM_OUTPUTS; ++j) {
        char path[4096];
        snprintf(path, sizeof path, "%s/out%d.bin", outdir, j);
        if (!save(&harness_outputs[j], model_output(j), path))
            return 1;
    }
    return 0;
}

#else /* PEXCP_QEMU: Cortex-M under qemu-system-arm, semihosting */
#include <stdint.h>

#ifndef PEXCP_INSNS_PER_TICK
#define PEXCP_INSNS_PER_TICK 40 /* mps2 boards: SysTick at 25 MHz, one instruction per ns with -icount shift=0 */
#endif
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define STACK_PAINT 0xC0FFEE11u

extern uint32_t __data_start__, __data_end__, __bss_start__, __bss_end__, __StackLimit;

static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    ++systick_wraps;
}

static unsigned long ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((unsigned long)wraps << 24) + (0xFFFFFFu - value);
}

static uint32_t xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* an integer value of any integer port, as a long */
static long int_value(const harness_port *p, const void *y, long i)
{
    switch (p->dtype) {
    case HARNESS_INT8:
        return ((const int8_t *)y)[i];
    case HARNESS_UINT8:
        return ((const uint8_t *)y)[i];
    case HARNESS_INT16:
        return ((const int16_t *)y)[i];
    case HARNESS_INT32:
        return (long)((const int32_t *)y)[i];
    default: {
        int64_t v; /* 8-byte ports may be only 4-byte aligned */
        memcpy(&v, (const char *)y + i * 8, 8);
        return (long)v;
    }
    }
}

/* a float input: xorshift32 mapped to k / 2^23 - 1 for a 24-bit k, exact in float32, easy to reproduce
 * elsewhere; an int8 input: the top byte */
static void next_value(uint32_t *state, const harness_port *p, void *x, long k)
{
    const uint32_t bits = xorshift32(state);
    if (p->dtype == HARNESS_INT8)
        ((int8_t *)x)[k] = (int8_t)(bits >> 24); /* two's complement of the top byte */
    else if (p->dtype != HARNESS_FLOAT32)
        memset((char *)x + k * (long)elem_size(p), 0, elem_size(p)); /* other integer inputs: zeros */
    else
        ((float *)x)[k] = (float)((int32_t)(bits >> 8) - 8388608) * (1.0f / 8388608.0f);
}

/* newlib-nano's printf has no %f: six decimals by hand */
static void print_decimal(float v)
{
    if (v != v) {
        printf("nan");
        return;
    }
    if (v < 0.0f) {
        putchar('-');
        v = -v;
    }
    if (v >= 1e9f) {
        printf("%s", v > 3.4e38f ? "inf" : ">1e9");
        return;
    }
    unsigned long whole = (unsigned long)v;
    unsigned long frac = (unsigned long)((v - (float)whole) * 1e6f + 0.5f);
    if (frac >= 1000000ul) {
        whole += 1;
        frac -= 1000000ul;
    }
    printf("%lu.%06lu", whole, frac);
}

int main(void)
{
    uint32_t state = 0x2545F491u;
    memset(model_arena(), 0xFF, MODEL_ARENA_BYTES);
    for (int i = 0; i < MODEL_NUM_INPUTS; ++i) {
        void *x = model_input(i);
        for (long k = 0; k < port_size(&harness_inputs[i]); ++k)
            next_value(&state, &harness_inputs[i], x, k);
    }

    /* paint the free stack below this frame; model_run's deepest use is the lowest word overwritten */
    volatile uint32_t marker = 0;
    uint32_t *top = (uint32_t *)((uintptr_t)&marker - 32);
    for (uint32_t *p = &__StackLimit; p < top; ++p)
        *p = STACK_PAINT;

    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    while (SYST_CVR == 0) { /* the first reload happens on the next tick */
    }
    const unsigned long start = ticks();
    model_run();
    const unsigned long stop = ticks();
    SYST_CSR = 0;

    uint32_t *low = &__StackLimit;
    while (low < top && *low == STACK_PAINT)
        ++low;
    const unsigned long stack = (unsigned long)((uint8_t *)&marker - (uint8_t *)low);

    for (int j = 0; j < MODEL_NUM_OUTPUTS; ++j) {
        const harness_port *p = &harness_outputs[j];
        const void *y = model_output(j);
        const int integer = p->dtype != HARNESS_FLOAT32;
        printf("output %d %s (%ld values, declared order, %s)\n", j, p->name, port_size(p), type_name(p));
        for (long i = 0; i < port_size(p); ++i) {
            uint32_t bits;
            if (p->dtype == HARNESS_INT8)
                bits = (uint32_t)(uint8_t)((const int8_t *)y)[i];
            else if (integer)
                bits = (uint32_t)int_value(p, y, i); /* the low 32 bits */
            else
                memcpy(&bits, (const float *)y + i, sizeof bits);
            printf("y%d[%ld] = 0x%08lx ", j, declared_offset(p, i), (unsigned long)bits);
            if (integer)
                printf("%ld", int_value(p, y, i));
            else
                print_decimal(((const float *)y)[i]);
            putchar('\n');
        }
    }
    printf("arena: %lu bytes\n", (unsigned long)MODEL_ARENA_BYTES);
    printf("static RAM (.data + .bss): %lu bytes\n",
           (unsigned long)(((uint8_t *)&__data_end__ - (uint8_t *)&__data_start__) +
                           ((uint8_t *)&__bss_end__ - (uint8_t *)&__bss_start__)));
    printf("stack high-water (model_run): %lu bytes\n", stack);
    printf("instructions (model_run): %lu\n", (stop - start) * PEXCP_INSNS_PER_TICK);
    return 0;
}
#endif
