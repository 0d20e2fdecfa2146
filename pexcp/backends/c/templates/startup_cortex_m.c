/* startup_cortex_m.c: reset and exception handling of the Cortex-M harness build, no vendor files needed.
 * Reset copies .data, zeroes .bss, enables the FPU, opens the semihosting handles and runs main; any fault
 * prints a line and ends QEMU with exit code 3 (so a crash never looks like a pass). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top__,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

static void semihost(uint32_t call, const void *arg)
{
    register uint32_t r0 __asm__("r0") = call;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

void Default_Handler(void)
{
    static const uint32_t exit_code_3[2] = {0x20026u, 3u}; /* ADP_Stopped_ApplicationExit, code 3 */
    semihost(0x04u, "pexcp harness: fault or unexpected exception\n"); /* SYS_WRITE0 */
    semihost(0x20u, exit_code_3);                                       /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

void Reset_Handler(void)
{
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    while (dst < &__data_end__)
        *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;)
        *dst++ = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10/CP11, the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    initialise_monitor_handles();
    exit(main());
}
