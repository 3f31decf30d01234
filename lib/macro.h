/* SPDX-License-Identifier: MIT */
/*
 * macro.h - the small macros every file of the library may use.  Includes
 * nothing of the project, so any layer can include it.
 */
#ifndef LIBSHMAR_MACRO_H
#define LIBSHMAR_MACRO_H

#include <stddef.h>

/* A public function: exported if also listed in libshmar.map. */
#define SHMAR_EXPORT __attribute__((visibility("default")))

#define SHMAR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SHMAR_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((size_t)(a) - 1))
#define SHMAR_MIN(a, b) ((a) < (b) ? (a) : (b))

#define shmar__likely(x) __builtin_expect(!!(x), 1)
#define shmar__unlikely(x) __builtin_expect(!!(x), 0)

/* One step of a busy wait: tell the CPU, so it spends less and yields its
 * sibling hyperthread the core. */
static inline void shmar__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif /* LIBSHMAR_MACRO_H */
