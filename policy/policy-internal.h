/* SPDX-License-Identifier: MIT */
/* Inside the policy library. */
#ifndef SEALVAULT_POLICY_INTERNAL_H
#define SEALVAULT_POLICY_INTERNAL_H

/* The built-in profiles, in the configuration format, parsed before any file. */
extern const char policy_builtin_profiles[];

#endif
