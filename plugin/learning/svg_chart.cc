#include "learning/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace quantclaw::learning {
namespace {

using absl::StrCat;
using absl::StrFormat;

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 78, kRight = 24, kTop = 92, kBottom = 62;

// About five round steps (1, 2 or 5 times a power of ten) over [low, high].
std::vector<double> Ticks(double low, double high) {
  const double span = high - low;
  if (!(span > 0)) return {low};
  const double raw = span / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step - 1e-9) * step; t <= high + 1e-9 * span; t += step) {
    ticks.push_back(std::fabs(t) < 1e-12 * span ? 0.0 : t);
  }
  return ticks;
}

std::string Number(double value) {
  std::string text = StrFormat("%.6g", value);
  return text;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

SvgChart::SvgChart(std::string title, std::string x_label, std::string y_label, double x_min, double x_max,
                   double y_min, double y_max)
    : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)), x_min_(x_min),
      x_max_(x_max > x_min ? x_max : x_min + 1), y_min_(y_min), y_max_(y_max > y_min ? y_max : y_min + 1) {}

double SvgChart::X(double x) const { return kLeft + (x - x_min_) / (x_max_ - x_min_) * (kWidth - kLeft - kRight); }
double SvgChart::Y(double y) const {
  return kHeight - kBottom - (y - y_min_) / (y_max_ - y_min_) * (kHeight - kTop - kBottom);
}

void SvgChart::Bar(double x0, double x1, double y, const std::string& fill, double opacity) {
  const double top = Y(std::min(y, y_max_)), bottom = Y(y_min_);
  marks_ += StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n",
                      X(x0), top, std::max(0.0, X(x1) - X(x0) - 0.5), std::max(0.0, bottom - top), fill, opacity);
}

void SvgChart::Polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width,
                        const std::string& dash) {
  std::string coordinates;
  for (const auto& [x, y] : points) coordinates += StrFormat("%.1f,%.1f ", X(x), Y(y));
  marks_ += StrFormat("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>\n", coordinates,
                      stroke, width, dash.empty() ? "" : StrCat(" stroke-dasharray=\"", dash, "\""));
}

void SvgChart::VerticalRule(double x, const std::string& stroke, const std::string& label, const std::string& dash) {
  const double px = X(x);
  marks_ += StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", px,
                      Y(y_max_), px, Y(y_min_), stroke, dash.empty() ? "" : StrCat(" stroke-dasharray=\"", dash, "\""));
  // Labels go above the frame, beside their rule, stacked when there are several: inside, they would
  // cover bars and the legend.
  const bool right = px < kLeft + 0.6 * (kWidth - kLeft - kRight);
  marks_ += StrFormat("<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"12\" text-anchor=\"%s\">%s</text>\n",
                      right ? px + 4 : px - 4, kTop - 6 - 14.0 * rules_, stroke, right ? "start" : "end",
                      XmlEscape(label));
  ++rules_;
}

void SvgChart::Point(double x, double y, const std::string& fill, double radius, double opacity) {
  marks_ += StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n", X(x), Y(y),
                      radius, fill, opacity);
}

void SvgChart::Box(double x, double half_width, double low, double q1, double median, double q3, double high,
                   const std::string& stroke) {
  const double left = X(x - half_width), right = X(x + half_width), centre = X(x);
  marks_ += StrFormat(
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
      centre, Y(high), centre, Y(q3), stroke, centre, Y(q1), centre, Y(low), stroke, left, Y(q3), right - left,
      std::max(0.5, Y(q1) - Y(q3)), stroke, left, Y(median), right, Y(median), stroke);
}

void SvgChart::Legend(const std::string& label, const std::string& colour, bool dashed) {
  legend_.push_back({label, {colour, dashed}});
}

void SvgChart::Note(const std::string& text) { notes_.push_back(text); }

std::string SvgChart::Render() const {
  std::string svg = StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight, kWidth, kHeight);
  svg += StrFormat("<text x=\"%.0f\" y=\"24\" font-size=\"17\" font-weight=\"bold\">%s</text>\n", kLeft, XmlEscape(title_));
  for (size_t i = 0; i < notes_.size(); ++i) {
    svg += StrFormat("<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#555\">%s</text>\n", kLeft, 42.0 + 14 * i,
                     XmlEscape(notes_[i]));
  }
  // Grid and ticks.
  for (double t : Ticks(y_min_, y_max_)) {
    svg += StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", kLeft, Y(t),
                     kWidth - kRight, Y(t));
    svg += StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", kLeft - 6,
                     Y(t) + 4, Number(t));
  }
  if (!categories_.empty()) {
    for (size_t i = 0; i < categories_.size(); ++i) {
      svg += StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                       X(static_cast<double>(i)), kHeight - kBottom + 16, XmlEscape(categories_[i]));
    }
  } else {
    for (double t : Ticks(x_min_, x_max_)) {
      svg += StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", X(t),
                       kHeight - kBottom, X(t), kHeight - kBottom + 5);
      svg += StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", X(t),
                       kHeight - kBottom + 18, log_ticks_x_ ? StrCat("1e", Number(t)) : Number(t));
    }
  }
  svg += marks_;
  // Frame last, so bars never cover it.
  svg += StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", kLeft,
                   kTop, kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  svg += StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
                   kLeft + (kWidth - kLeft - kRight) / 2, kHeight - 18, XmlEscape(x_label_));
  svg += StrFormat(
      "<text x=\"18\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">%s</text>\n",
      kTop + (kHeight - kTop - kBottom) / 2, kTop + (kHeight - kTop - kBottom) / 2, XmlEscape(y_label_));
  if (!legend_.empty()) {
    constexpr double kLegendWidth = 236, kRow = 18;
    const double box_height = kRow * legend_.size() + 8;
    const double x = kWidth - kRight - kLegendWidth - 6;
    const double top = legend_bottom_ ? kHeight - kBottom - box_height - 6 : kTop + 6;
    svg += StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" fill-opacity=\"0.88\" "
                     "stroke=\"#ccc\"/>\n",
                     x, top, kLegendWidth, box_height);
    for (size_t i = 0; i < legend_.size(); ++i) {
      const double y = top + 4 + kRow * (i + 1) - 5;
      svg += StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s/>\n",
                       x + 8, y - 4, x + 32, y - 4, legend_[i].second.first,
                       legend_[i].second.second ? " stroke-dasharray=\"6,4\"" : "");
      svg += StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", x + 38, y,
                       XmlEscape(legend_[i].first));
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace quantclaw::learning
