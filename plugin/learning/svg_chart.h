// Hand-written SVG charts for `quantclaw report`: an x/y frame with ticks, axis labels and a title, and
// the few marks the report draws (bars, polylines, vertical rules, points, boxes, a legend). No
// dependencies; the output opens in any browser.
#ifndef QUANTCLAW_PLUGIN_LEARNING_SVG_CHART_H_
#define QUANTCLAW_PLUGIN_LEARNING_SVG_CHART_H_

#include <string>
#include <utility>
#include <vector>

namespace quantclaw::learning {

class SvgChart {
 public:
  SvgChart(std::string title, std::string x_label, std::string y_label, double x_min, double x_max, double y_min,
           double y_max);

  // x ticks labelled with 10^tick instead of the tick itself (a log10 axis drawn as its values).
  void SetLogTicksX() { log_ticks_x_ = true; }
  // Categories along x at 0, 1, ..., n-1 (the frame should span -0.5 .. n-0.5).
  void SetCategoriesX(std::vector<std::string> names) { categories_ = std::move(names); }

  void Bar(double x0, double x1, double y, const std::string& fill, double opacity = 1.0);
  void Polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width = 2,
                const std::string& dash = "");
  void VerticalRule(double x, const std::string& stroke, const std::string& label, const std::string& dash = "6,4");
  void Point(double x, double y, const std::string& fill, double radius = 2, double opacity = 0.5);
  // A box from q1 to q3 with a median line and whiskers, centred at x, `half_width` either side.
  void Box(double x, double half_width, double low, double q1, double median, double q3, double high,
           const std::string& stroke);
  void Legend(const std::string& label, const std::string& colour, bool dashed = false);
  void Note(const std::string& text);  // a line under the title
  // Where the legend box sits inside the frame (default: top right); pick the emptier corner.
  void LegendAtBottomRight() { legend_bottom_ = true; }

  std::string Render() const;

 private:
  double X(double x) const;
  double Y(double y) const;

  std::string title_, x_label_, y_label_;
  double x_min_, x_max_, y_min_, y_max_;
  bool log_ticks_x_ = false;
  bool legend_bottom_ = false;
  int rules_ = 0;  // vertical rules drawn so far; their labels stack above the frame
  std::vector<std::string> categories_;
  std::vector<std::pair<std::string, std::pair<std::string, bool>>> legend_;
  std::vector<std::string> notes_;
  std::string marks_;
};

// Text safe inside SVG/HTML.
std::string XmlEscape(const std::string& text);

}  // namespace quantclaw::learning

#endif  // QUANTCLAW_PLUGIN_LEARNING_SVG_CHART_H_
