// Distances on the Earth's surface, for geo and recommendation.
#ifndef NOTNETS_APPS_HOTEL_GEOMETRY_H_
#define NOTNETS_APPS_HOTEL_GEOMETRY_H_

#include <cmath>

namespace hotel {

// Great-circle distance in kilometres between two points in degrees (haversine formula,
// spherical Earth).
inline double DistanceKm(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kEarthRadiusKm = 6371;
  constexpr double kRadiansPerDegree = M_PI / 180;
  double phi1 = lat1 * kRadiansPerDegree, phi2 = lat2 * kRadiansPerDegree;
  double dphi = phi2 - phi1, dlambda = (lon2 - lon1) * kRadiansPerDegree;
  double h = std::sin(dphi / 2) * std::sin(dphi / 2) +
             std::cos(phi1) * std::cos(phi2) * std::sin(dlambda / 2) * std::sin(dlambda / 2);
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(h));
}

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_GEOMETRY_H_
