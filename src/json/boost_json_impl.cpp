// Debian's Boost 1.81 ships Boost.JSON headers but no compiled library: this
// translation unit is the library (Boost.JSON's documented header-only mode).
#include <boost/json/src.hpp>
