#include <boost/json/src.hpp>  // the test has its own copy; the library keeps its private
