/* Compiled as C99 with -pedantic: the ABI header must be plain C. */
#include "brickbench/brick_abi.h"

int bb_abi_c99_check(void) { return (int)(sizeof(bb_plugin_api) + sizeof(bb_tensor)); }
