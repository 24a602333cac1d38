// Boost.JSON compiled into libquantclaw from its header-only source: the copy stays private (hidden
// visibility, version script), so a host's own Boost never meets ours.
#include <boost/json/src.hpp>
