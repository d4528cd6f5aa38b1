#ifndef BW_UTIL_VERSION_H
#define BW_UTIL_VERSION_H
#define BW_VERSION "0.1.0"
#endif
